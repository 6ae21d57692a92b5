"""Settings of the worker the pipeline fault test kills: the test settings with leases short enough that a
killed worker's work comes back within seconds instead of minutes."""

from kefu.settings.test import *  # noqa: F403

# A burst held by a worker that was killed is given back this soon (the beat sweep runs every 2 s in the test).
KEFU_PIPELINE_LEASE_SECONDS = 8
KEFU_PIPELINE_LLM_QUEUE_SECONDS = 5
KEFU_PIPELINE_STALE_NEW_SECONDS = 6
# Redis gives an unacknowledged task of a killed worker to the next one after this (acks_late).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 15}
