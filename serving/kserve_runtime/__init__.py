"""The KServe runtime: a `kserve.Model` over the core engine, run by KServe's ModelServer (V1 and V2)."""
