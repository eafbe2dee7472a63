"""Key names of PolicyEvaluator's inputs, outputs and parameters (one place)."""

# Inputs.
MODEL_KEY = "model"
BASELINE_MODEL_KEY = "baseline_model"

# Outputs.
BLESSING_KEY = "blessing"  # standard ModelBlessing, read by TFX's Pusher
EVALUATION_KEY = "evaluation"  # standard ModelEvaluation: report, returns, plot

# Parameters.
ENV_ID_KEY = "env_id"
NUM_EPISODES_KEY = "num_episodes"
SEED_KEY = "seed"
THRESHOLD_KEY = "threshold"
MAX_REGRESSION_KEY = "max_regression"
EPSILON_KEY = "epsilon"
MAX_EPISODE_FRAMES_KEY = "max_episode_frames"

# Files in the ModelEvaluation artifact are named in contracts.files
# (POLICY_REPORT_FILE, POLICY_REPORT_TEXT_FILE, RETURN_PLOT_FILE).

# Same names as TFX's Evaluator, so Pusher and LatestBlessedModelStrategy work.
BLESSED_PROPERTY = "blessed"
CURRENT_MODEL_PROPERTY = "current_model"
CURRENT_MODEL_ID_PROPERTY = "current_model_id"
BASELINE_MODEL_PROPERTY = "baseline_model"
BASELINE_MODEL_ID_PROPERTY = "baseline_model_id"
REASON_PROPERTY = "reason"  # one line: why blessed or not
BLESSED_FILE = "BLESSED"
NOT_BLESSED_FILE = "NOT_BLESSED"
