"""Ground truth for answered requests: labels in, stored beside the prediction logs, joined on read.

```python
from kubeloop.labels import Label, LocalLabelStore
store = LocalLabelStore.from_settings(settings)
store.put("iris", [Label(request_id="3f2a...", row=0, label="setosa")])   # PutResult(new=1, ...)
frame = store.read("iris", since=t0, until=t1)    # labeled answers, one row per version and role
rows = one_row_each(frame)                        # one row per labeled input: input.*, label, weight
```

Which requests to label: the deployment's `spec.labeling` policy (`kubeloop.labels.policy`), whose
choices `chosen_rows` lists for a labeling tool.
"""

from kubeloop.labels.intake import receive
from kubeloop.labels.join import labeled_rows, one_row_each
from kubeloop.labels.queue import chosen_rows
from kubeloop.labels.records import Label, LabelError, PutResult
from kubeloop.labels.schema import LabelSchema
from kubeloop.labels.store import LabelStore, LocalLabelStore

__all__ = [
    "Label",
    "LabelError",
    "LabelSchema",
    "LabelStore",
    "LocalLabelStore",
    "PutResult",
    "chosen_rows",
    "labeled_rows",
    "one_row_each",
    "receive",
]
