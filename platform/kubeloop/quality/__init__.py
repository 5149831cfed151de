"""Online model quality from labels: weighted estimates with intervals, and paired comparisons.

```python
from kubeloop.quality import online_quality, compare_paired
reports = online_quality(store.read("iris", since, until))      # per version and role
found = compare_paired(champion_rows, challenger_rows, metric="accuracy", confidence=0.95)
```
"""

from kubeloop.quality.online import VersionQuality, online_quality
from kubeloop.quality.paired import Comparison, compare_paired, compare_unpaired, mcnemar
from kubeloop.quality.statistic import Estimate

__all__ = [
    "Comparison",
    "Estimate",
    "VersionQuality",
    "compare_paired",
    "compare_unpaired",
    "mcnemar",
    "online_quality",
]
