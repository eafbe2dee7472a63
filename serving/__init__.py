"""What runs after the push: a local TF-Serving-compatible server, its clients, and
the configuration for the real `tensorflow/serving` image.

  server.start_server(options.ServerOptions(...))  gRPC (PredictionService, ModelService) + REST front ends
  flags                     `vrl serve` flags: TF Serving's own and the project's
  warmup                    TF Serving's warmup file: write it (Pusher), replay it (load)
  client.GrpcClient / RestClient  clients that work against the real TF Serving too
  deploy, k8s/              models.config generator, docker line, Kubernetes manifests
"""
