"""The kopf operator for ``KalshiActor`` resources (``trading.kalshiflow.io/v1alpha1``).

Parts: :mod:`.spec` (defaults and validation of a spec), :mod:`.builders` (pure: spec ->
ConfigMap, Deployment, Service, PodMonitor, NetworkPolicy, the tokens' Secret), :mod:`.apply` (create or
merge-patch a child), :mod:`.kube` (a small API client), :mod:`.actor_client` (the actor's
HTTP endpoints), :mod:`.status` (status from the pod's health), :mod:`.metrics`, and
:mod:`.handlers` (the kopf handlers; importing it registers them).
"""

__version__ = "0.1.0"
