"""ragstack sync trigger: starts a data source's ingestion job when its documents change (S3
events through EventBridge, `sync.trigger = "on_change"`) and for every data source on the
environment's schedule (`sync.schedule`, an EventBridge Scheduler schedule).

Bedrock runs one ingestion job at a time and refuses another with ConflictException, and a job
that is already running may miss a change made meanwhile. So when a job cannot start, the
function records that another run is due instead of dropping the event: a one-time EventBridge
Scheduler schedule per data source (RECHECK_SCHEDULE_PREFIX + the data source id), due
RECHECK_MINUTES later, that invokes this function again. Its fixed name makes it the one pending
run: in a burst of uploads the first event starts a job, the first one to find that job running
creates the re-check, and the rest find it there (ConflictException), so the burst ends in at most
two jobs. The re-check deletes its schedule before it starts the job: any event after that
records a new one, and none falls between the two. Any other failure to start (throttling, a
quota) also records the re-check, so no change is lost; a failure to record it raises, and Lambda
retries the event.

An event that still fails after Lambda's retries goes to the environment's failure queue (the
function's on-failure destination, FAILURES_QUEUE). `ragstack sync` ingests what those events
concern and deletes them; so does the scheduled run: it takes the waiting events before it starts
a job of every data source, and deletes them once every job started or has its re-check recorded.

Configuration comes from environment variables ragstack sets: KNOWLEDGE_BASE_ID, DATA_SOURCES
(JSON: [{"id", "name", "bucket", "prefix"}]), SCHEDULER_ROLE_ARN (the role EventBridge Scheduler
invokes the function with), RECHECK_SCHEDULE_PREFIX, RECHECK_MINUTES, FAILURES_QUEUE (the failure queue's name). Only boto3 from the Lambda
runtime is used.
"""
import datetime
import json
import logging
import os

import boto3
from botocore.exceptions import ClientError

LOG = logging.getLogger()
LOG.setLevel(logging.INFO)

# What ragstack's status looks for in a job's description to call it triggered.
DESCRIPTION = "ragstack sync trigger"
# StartIngestionJob's description: 1-200 characters (botocore's bedrock-agent model).
DESCRIPTION_MAX = 200

_clients = {}


def client(name):
    """One boto3 client per service, created once per execution environment."""
    if name not in _clients:
        _clients[name] = boto3.client(name)
    return _clients[name]


def data_sources():
    return json.loads(os.environ["DATA_SOURCES"])


# ReceiveMessage returns at most 10 messages a call; the function has 60 seconds, so it takes at
# most this many calls' worth and leaves the rest for the next run (or `ragstack sync`).
RECEIVE_BATCHES = 10
# How long taken events stay hidden from other readers: longer than the function may run.
HOLD_SECONDS = 120


def handler(event, context):
    targets, reason, recheck = route(event)
    failed = take_failed_events() if event.get("ragstack") == "schedule" else None
    results = [trigger(ds, reason, context.invoked_function_arn, recheck) for ds in targets]
    out = {"data_sources": results}
    if failed and failed[1]:
        out["failed_events_cleared"] = clear_failed_events(failed)
    return out


def take_failed_events():
    """(queue URL, receipt handles) of the failure queue's waiting events, or None without a queue."""
    name = os.environ.get("FAILURES_QUEUE")
    if not name:
        return None
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    receipts = []
    for _ in range(RECEIVE_BATCHES):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=HOLD_SECONDS).get(
            "Messages", []
        )
        receipts += [m["ReceiptHandle"] for m in messages]
        if not messages:
            break
    if receipts:
        LOG.info("%d failed events waiting: this run ingests every data source, so it clears them", len(receipts))
    return url, receipts


def clear_failed_events(failed):
    """Deletes the taken events (every data source's job started or has its re-check recorded,
    or `trigger` raised before this); returns how many."""
    url, receipts = failed
    for i in range(0, len(receipts), 10):
        batch = [{"Id": str(n), "ReceiptHandle": r} for n, r in enumerate(receipts[i : i + 10])]
        out = client("sqs").delete_message_batch(QueueUrl=url, Entries=batch)
        for f in out.get("Failed", []):
            LOG.warning("could not delete a failed event (%s: %s): the next sync ingests it again", f.get("Code"), f.get("Message"))
    return len(receipts)


def route(event):
    """(data sources to ingest, why, whether this is a re-check) for an event."""
    if event.get("source") == "aws.s3":
        detail = event.get("detail", {})
        bucket = detail.get("bucket", {}).get("name", "")
        key = detail.get("object", {}).get("key", "")
        matched = [d for d in data_sources() if d["bucket"] == bucket and key.startswith(d["prefix"])]
        if not matched:
            LOG.info("s3://%s/%s is under no data source: nothing to ingest", bucket, key)
        return matched, f"{event.get('detail-type', 'S3 event')}: s3://{bucket}/{key}", False
    if event.get("ragstack") == "schedule":
        return data_sources(), "schedule", False
    if event.get("ragstack") == "recheck":
        matched = [d for d in data_sources() if d["id"] == event.get("data_source_id")]
        if not matched:
            LOG.warning("re-check of data source %s, which the function does not know", event.get("data_source_id"))
        return matched, "re-check after a running job", True
    LOG.warning("ignored an event ragstack does not send: %s", json.dumps(event)[:500])
    return [], "", False


def trigger(ds, reason, function_arn, recheck):
    """Starts an ingestion job of data source `ds`; when it cannot, makes sure a re-check is pending."""
    if recheck:
        forget_recheck(ds)
    description = f"{DESCRIPTION}: {reason}"[:DESCRIPTION_MAX]
    try:
        job = client("bedrock-agent").start_ingestion_job(
            knowledgeBaseId=os.environ["KNOWLEDGE_BASE_ID"], dataSourceId=ds["id"], description=description
        )["ingestionJob"]
    except ClientError as e:
        code, message = e.response["Error"].get("Code", ""), e.response["Error"].get("Message", "")
        if code == "ConflictException":
            LOG.info("data source %s: a job is running (%s); recording a re-check", ds["name"], message)
        else:
            LOG.error("data source %s: could not start a job: %s: %s; recording a re-check", ds["name"], code, message)
        pending = record_recheck(ds, function_arn)
        return {"data_source": ds["name"], "started": None, "recheck": pending, "error": code}
    LOG.info("data source %s: started ingestion job %s (%s)", ds["name"], job["ingestionJobId"], reason)
    return {"data_source": ds["name"], "started": job["ingestionJobId"]}


def recheck_name(ds):
    return os.environ["RECHECK_SCHEDULE_PREFIX"] + ds["id"]


def record_recheck(ds, function_arn):
    """Creates the data source's re-check schedule; "recorded", or "already pending" when it exists."""
    minutes = int(os.environ.get("RECHECK_MINUTES", "5"))
    due = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)
    try:
        client("scheduler").create_schedule(
            Name=recheck_name(ds),
            Description=f"ragstack: ingest data source {ds['name']} once the running job ends",
            ScheduleExpression=f"at({due.strftime('%Y-%m-%dT%H:%M:%S')})",
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            ActionAfterCompletion="DELETE",
            Target={
                "Arn": function_arn,
                "RoleArn": os.environ["SCHEDULER_ROLE_ARN"],
                "Input": json.dumps({"ragstack": "recheck", "data_source_id": ds["id"]}),
            },
        )
    except ClientError as e:
        if e.response["Error"].get("Code") == "ConflictException":
            return "already pending"
        # Not recorded: raising makes Lambda retry the event, so the change is not lost.
        LOG.error("data source %s: could not record a re-check: %s", ds["name"], e)
        raise
    LOG.info("data source %s: re-check due at %s UTC", ds["name"], due.strftime("%H:%M:%S"))
    return "recorded"


def forget_recheck(ds):
    """Deletes the re-check that invoked the function, before its job starts."""
    try:
        client("scheduler").delete_schedule(Name=recheck_name(ds))
    except ClientError as e:
        if e.response["Error"].get("Code") != "ResourceNotFoundException":
            raise
