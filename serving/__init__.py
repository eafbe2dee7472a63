"""What runs after the push: a local TF-Serving-compatible server, its clients, and
the configuration for the real `tensorflow/serving` image.

  server.start_server(...)  gRPC (PredictionService, ModelService) + REST front ends
  client.GrpcClient / RestClient  clients that work against the real TF Serving too
  cli.add_parsers(...)  `vrl serve`, `vrl predict`, `vrl act`
  deploy, k8s/  models.config generator, docker line, Kubernetes manifests
"""
