"""Built-in subscriber actions: read outputs, call webhooks, chain jobs, write summaries.

Use them from a handler::

    from vbq.subscribers import handler
    from vbq.subscribers.actions import chain, from_outputs, iter_gemini_rows

    @handler("job.succeeded")
    def on_done(event):
        for row in iter_gemini_rows(event):
            print(row.text, row.usage.total_tokens)
        chain(event, lambda e: from_outputs(e, model_name=M, gcs_destination_prefix=OUT),
              stage="stage2")

or by configuration: ``vbq subscribe --actions actions.yaml`` (see
:mod:`vbq.subscribers.actions.config`).
"""

from vbq.subscribers.actions.bigquery import iter_bigquery_rows
from vbq.subscribers.actions.chain import (
    Chain,
    chain,
    chain_idempotency_key,
    from_outputs,
    outputs_source,
)
from vbq.subscribers.actions.config import load_actions, parse_actions
from vbq.subscribers.actions.gemini import GeminiRow, TokenUsage, is_gemini_row
from vbq.subscribers.actions.outputs import (
    OutputFile,
    iter_gemini_rows,
    iter_output_files,
    iter_predictions,
    output_directory,
    readable_job,
    storage_client,
)
from vbq.subscribers.actions.signature import SignatureCheck, sign, signature_header, verify
from vbq.subscribers.actions.summary import (
    ErrorClass,
    JobSummary,
    JsonlFileSink,
    Summary,
    SummarySink,
    summarize,
)
from vbq.subscribers.actions.webhook import Webhook

__all__ = [
    "Chain",
    "ErrorClass",
    "GeminiRow",
    "JobSummary",
    "JsonlFileSink",
    "OutputFile",
    "SignatureCheck",
    "Summary",
    "SummarySink",
    "TokenUsage",
    "Webhook",
    "chain",
    "chain_idempotency_key",
    "from_outputs",
    "is_gemini_row",
    "iter_bigquery_rows",
    "iter_gemini_rows",
    "iter_output_files",
    "iter_predictions",
    "load_actions",
    "output_directory",
    "outputs_source",
    "parse_actions",
    "readable_job",
    "sign",
    "signature_header",
    "storage_client",
    "summarize",
    "verify",
]
