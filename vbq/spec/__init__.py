"""The job spec: a validated ``BatchPredictionJob.submit()`` call and the request it becomes.

```python
spec = JobSpec.from_sdk_kwargs(**kwargs)          # SpecError names the field and the rule
spec = JobSpec.from_json(spec.to_json())          # exact round trip; also from_dict/to_dict
target = spec.target(default_project="p", default_location="us-central1")  # cheap check
req = spec.resolve(default_project="p", default_location="us-central1")
req.parent, req.api_version, req.body, req.model, req.timeout_s
body = with_submission_label(req.body, submission_id)
```
"""

from vbq.spec.labels import MAX_USER_LABELS, RESERVED_PREFIX, SUBMISSION_LABEL
from vbq.spec.model import JobSpec
from vbq.spec.parameters import INPUT_FORMATS, OUTPUT_FORMATS, SDK_PARAMETERS
from vbq.spec.resolved import JobTarget, ResolvedRequest, with_submission_label

__all__ = [
    "INPUT_FORMATS",
    "MAX_USER_LABELS",
    "OUTPUT_FORMATS",
    "RESERVED_PREFIX",
    "SDK_PARAMETERS",
    "SUBMISSION_LABEL",
    "JobSpec",
    "JobTarget",
    "ResolvedRequest",
    "with_submission_label",
]
