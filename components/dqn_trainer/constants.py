"""Key names of DqnTrainer's parameters and outputs (one place)."""

# Parameters.
ENV_ID_KEY = "env_id"
NUM_ENV_STEPS_KEY = "num_env_steps"
CONFIG_JSON_KEY = "config_json"
SEED_KEY = "seed"
CHECKPOINT_BASE_KEY = "checkpoint_base"
FRESH_KEY = "fresh"  # 1: delete a previous run's checkpoints and start over

# Outputs.
MODEL_KEY = "model"  # standard Model; SavedModel under Format-Serving/
MODEL_RUN_KEY = "model_run"  # standard ModelRun; TensorBoard logs
# Files at the root of the Model artifact beside Format-Serving/ are named in
# contracts.files (EVAL_HISTORY_FILE, TRAINING_SUMMARY_FILE).
