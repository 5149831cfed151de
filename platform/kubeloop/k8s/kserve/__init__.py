"""Everything kubeloop knows about KServe, in one place.

`resources` builds InferenceServices and predictors (the runtime's command, the logger URL);
`modes` reads an InferenceService's deployment mode and which field splits its traffic there;
`traffic` maps routes onto an InferenceService and back (pure, given the live object); `router`
binds the TrafficRouter and ModelServers ports of one deployment to it.
"""
