"""Local emulators standing in for Google services: Vertex AI REST, Pub/Sub gRPC, Cloud Storage."""
