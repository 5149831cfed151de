"""The model-server core: verified loading, request validation against the signature, batched predict."""
