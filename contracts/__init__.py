"""What several floors agree on; the lowest floor of the project.

models, components, serving, pipeline, kubeflow and vrl import down to it; it
imports none of them, and no module here imports TensorFlow at its top, so
importing a contract stays fast (TensorFlow is imported inside the few
functions that read or write through `tf.io.gfile` or build protos).

  features      tf.Example feature keys and the serving signatures' names
  images        image dimension limits and the header check (ingest and serving)
  manifest      the CSV manifest ingest reads: its columns and encoding rule
  files         artifact file names and the input folder layout
  model_config  TF Serving's models.config: its file name, which versions an entry serves
  names         pipeline and model name rules
  serving_base  <base>/<model>/<version>/, version numbers, the push marker
  warmup        TF Serving's warmup file and the requests written into it
"""
