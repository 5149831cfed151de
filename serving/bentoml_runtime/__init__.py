"""The BentoML runtime: a `@bentoml.service` over the core engine, buildable with bentofile.yaml."""
