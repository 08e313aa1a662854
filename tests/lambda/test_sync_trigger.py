"""Unit tests of templates/sync/handler.py (the sync trigger) with botocore's Stubber: the
answers are Bedrock's and EventBridge Scheduler's as their API models define them.

Run by scripts/test: python -m unittest discover -s tests/lambda
"""
import datetime
import importlib.util
import json
import os
import pathlib
import unittest

import boto3
from botocore.stub import ANY, Stubber

ROOT = pathlib.Path(__file__).resolve().parents[2]

KB = "KB12345678"
DOCS = {"id": "DS00000001", "name": "documents", "bucket": "ragstack-dev-123456789012-us-east-1", "prefix": "documents/"}
FAQ = {"id": "DS00000002", "name": "faq", "bucket": DOCS["bucket"], "prefix": "faq/"}
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:ragstack-dev-sync"
SCHEDULER_ROLE = "arn:aws:iam::123456789012:role/ragstack/ragstack-dev-us-east-1-scheduler"
PREFIX = "ragstack-dev-recheck-"


class Context:
    invoked_function_arn = FUNCTION


def s3_event(key, detail_type="Object Created", bucket=DOCS["bucket"]):
    """An S3 event as EventBridge delivers it (the key is not URL-encoded there)."""
    return {
        "version": "0",
        "source": "aws.s3",
        "detail-type": detail_type,
        "detail": {"version": "0", "bucket": {"name": bucket}, "object": {"key": key, "size": 10}},
    }


def job(job_id, ds=DOCS):
    now = datetime.datetime(2026, 11, 21, tzinfo=datetime.timezone.utc)
    return {
        "ingestionJob": {
            "knowledgeBaseId": KB,
            "dataSourceId": ds["id"],
            "ingestionJobId": job_id,
            "status": "STARTING",
            "startedAt": now,
            "updatedAt": now,
        }
    }


def start_params(ds=DOCS):
    return {"knowledgeBaseId": KB, "dataSourceId": ds["id"], "description": ANY}


def recheck_params(ds=DOCS):
    return {
        "Name": PREFIX + ds["id"],
        "Description": ANY,
        "ScheduleExpression": ANY,
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "ActionAfterCompletion": "DELETE",
        "Target": {
            "Arn": FUNCTION,
            "RoleArn": SCHEDULER_ROLE,
            "Input": json.dumps({"ragstack": "recheck", "data_source_id": ds["id"]}),
        },
    }


QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/ragstack-dev-sync-failures"
CREATED = {"ScheduleArn": f"arn:aws:scheduler:us-east-1:123456789012:schedule/default/{PREFIX}{DOCS['id']}"}


class SyncTriggerTest(unittest.TestCase):
    def setUp(self):
        os.environ.update(
            {
                "AWS_DEFAULT_REGION": "us-east-1",
                "KNOWLEDGE_BASE_ID": KB,
                "DATA_SOURCES": json.dumps([DOCS, FAQ]),
                "SCHEDULER_ROLE_ARN": SCHEDULER_ROLE,
                "RECHECK_SCHEDULE_PREFIX": PREFIX,
                "RECHECK_MINUTES": "5",
                "FAILURES_QUEUE": "ragstack-dev-sync-failures",
            }
        )
        spec = importlib.util.spec_from_file_location("sync_handler", ROOT / "templates/sync/handler.py")
        self.h = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.h)
        self.stubs = {}
        for name in ("bedrock-agent", "scheduler", "sqs"):
            c = boto3.client(name, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
            self.h._clients[name] = c
            self.stubs[name] = Stubber(c)
            self.stubs[name].activate()
        self.bedrock, self.scheduler, self.sqs = self.stubs["bedrock-agent"], self.stubs["scheduler"], self.stubs["sqs"]

    def tearDown(self):
        for s in self.stubs.values():
            s.assert_no_pending_responses()
            s.deactivate()

    def run_event(self, event):
        return self.h.handler(event, Context())

    def running(self):
        self.bedrock.add_client_error(
            "start_ingestion_job", "ConflictException", "There is already an ongoing ingestion job", 409, start_params()
        )

    def test_a_change_under_a_prefix_starts_that_data_sources_job(self):
        self.bedrock.add_response("start_ingestion_job", job("JOB0000001"), start_params())
        out = self.run_event(s3_event("documents/guide.md"))
        self.assertEqual(out, {"data_sources": [{"data_source": "documents", "started": "JOB0000001"}]})

    def test_the_job_says_it_was_triggered_and_why(self):
        seen = {}
        self.bedrock.add_response("start_ingestion_job", job("JOB0000001"), start_params())
        real = self.h._clients["bedrock-agent"].start_ingestion_job

        def spy(**kw):
            seen.update(kw)
            return real(**kw)

        self.h._clients["bedrock-agent"].start_ingestion_job = spy
        self.run_event(s3_event("documents/guide.md", "Object Deleted"))
        self.assertEqual(seen["description"], f"ragstack sync trigger: Object Deleted: s3://{DOCS['bucket']}/documents/guide.md")

    def test_a_change_outside_every_prefix_or_bucket_starts_nothing(self):
        self.assertEqual(self.run_event(s3_event("other/x.md")), {"data_sources": []})
        self.assertEqual(self.run_event(s3_event("documents/x.md", bucket="someone-elses")), {"data_sources": []})
        self.assertEqual(self.run_event({"unexpected": True}), {"data_sources": []})

    def failed_events(self, *batches):
        """The failure queue holds `batches` of receipt handles (then nothing)."""
        self.sqs.add_response("get_queue_url", {"QueueUrl": QUEUE_URL}, {"QueueName": "ragstack-dev-sync-failures"})
        for batch in (*batches, []):
            messages = [{"MessageId": r, "ReceiptHandle": r, "Body": "{}"} for r in batch]
            params = {"QueueUrl": QUEUE_URL, "MaxNumberOfMessages": 10, "VisibilityTimeout": ANY}
            self.sqs.add_response("receive_message", {"Messages": messages} if messages else {}, params)

    def test_the_schedule_starts_every_data_source(self):
        self.failed_events()
        self.bedrock.add_response("start_ingestion_job", job("JOB0000001"), start_params(DOCS))
        self.bedrock.add_response("start_ingestion_job", job("JOB0000002", FAQ), start_params(FAQ))
        out = self.run_event({"ragstack": "schedule"})
        self.assertEqual([d["started"] for d in out["data_sources"]], ["JOB0000001", "JOB0000002"])
        self.assertNotIn("failed_events_cleared", out)

    def test_the_schedule_clears_the_failed_events_once_every_job_started(self):
        receipts = [f"r{n}" for n in range(12)]
        self.failed_events(receipts[:10], receipts[10:])
        self.bedrock.add_response("start_ingestion_job", job("JOB0000001"), start_params(DOCS))
        self.bedrock.add_response("start_ingestion_job", job("JOB0000002", FAQ), start_params(FAQ))
        for batch in (receipts[:10], receipts[10:]):
            entries = [{"Id": str(n), "ReceiptHandle": r} for n, r in enumerate(batch)]
            successful = [{"Id": e["Id"]} for e in entries]
            self.sqs.add_response("delete_message_batch", {"Successful": successful, "Failed": []}, {"QueueUrl": QUEUE_URL, "Entries": entries})
        out = self.run_event({"ragstack": "schedule"})
        self.assertEqual(out["failed_events_cleared"], 12)

    def test_a_schedule_that_cannot_start_or_record_keeps_the_failed_events(self):
        self.failed_events(["r0"])
        self.running()
        self.scheduler.add_client_error("create_schedule", "AccessDeniedException", "not authorized", 403, recheck_params())
        with self.assertLogs(level="ERROR"), self.assertRaises(Exception):
            self.run_event({"ragstack": "schedule"})
        # No delete_message_batch was stubbed: the Stubber would have failed on one.

    def test_a_change_event_leaves_the_failed_events_to_the_schedule_and_sync(self):
        self.bedrock.add_response("start_ingestion_job", job("JOB0000001"), start_params())
        out = self.run_event(s3_event("documents/guide.md"))
        self.assertNotIn("failed_events_cleared", out)

    def test_already_running_records_a_recheck_due_later(self):
        self.running()
        self.scheduler.add_response("create_schedule", CREATED, recheck_params())
        before = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
        seen = {}
        real = self.h._clients["scheduler"].create_schedule

        def spy(**kw):
            seen.update(kw)
            return real(**kw)

        self.h._clients["scheduler"].create_schedule = spy
        out = self.run_event(s3_event("documents/new.md"))
        self.assertEqual(out["data_sources"][0]["recheck"], "recorded")
        due = datetime.datetime.strptime(seen["ScheduleExpression"], "at(%Y-%m-%dT%H:%M:%S)")
        self.assertTrue(
            datetime.timedelta(minutes=5) <= due - before <= datetime.timedelta(minutes=5, seconds=5), seen
        )

    def test_the_recheck_is_honoured_after_the_job_ends(self):
        # The re-check deletes its own schedule first, then starts the job the change needed.
        self.scheduler.add_response("delete_schedule", {}, {"Name": PREFIX + DOCS["id"]})
        self.bedrock.add_response("start_ingestion_job", job("JOB0000002"), start_params())
        out = self.run_event({"ragstack": "recheck", "data_source_id": DOCS["id"]})
        self.assertEqual(out["data_sources"][0]["started"], "JOB0000002")

    def test_a_recheck_that_still_finds_a_job_running_records_the_next(self):
        self.scheduler.add_response("delete_schedule", {}, {"Name": PREFIX + DOCS["id"]})
        self.running()
        self.scheduler.add_response("create_schedule", CREATED, recheck_params())
        out = self.run_event({"ragstack": "recheck", "data_source_id": DOCS["id"]})
        self.assertEqual(out["data_sources"][0]["recheck"], "recorded")

    def test_a_burst_of_1000_uploads_makes_at_most_two_jobs(self):
        # Bedrock's answers as it gives them: the first event starts a job, which runs through the
        # burst; the first event to find it running records the re-check, the rest find it pending.
        self.bedrock.add_response("start_ingestion_job", job("JOB0000001"), start_params())
        for n in range(999):
            self.running()
            if n == 0:
                self.scheduler.add_response("create_schedule", CREATED, recheck_params())
            else:
                self.scheduler.add_client_error(
                    "create_schedule", "ConflictException", "Schedule already exists.", 409, recheck_params()
                )
        results = [self.run_event(s3_event(f"documents/{n}.md"))["data_sources"][0] for n in range(1000)]
        # After the job: the one re-check starts the second job.
        self.scheduler.add_response("delete_schedule", {}, {"Name": PREFIX + DOCS["id"]})
        self.bedrock.add_response("start_ingestion_job", job("JOB0000002"), start_params())
        results.append(self.run_event({"ragstack": "recheck", "data_source_id": DOCS["id"]})["data_sources"][0])
        started = [r["started"] for r in results if r.get("started")]
        self.assertEqual(started, ["JOB0000001", "JOB0000002"])
        self.assertEqual(sum(1 for r in results if r.get("recheck") == "recorded"), 1)
        self.assertEqual(sum(1 for r in results if r.get("recheck") == "already pending"), 998)

    def test_a_failure_to_start_is_logged_and_the_pending_run_kept(self):
        self.bedrock.add_client_error(
            "start_ingestion_job", "ThrottlingException", "Rate exceeded", 429, start_params()
        )
        self.scheduler.add_response("create_schedule", CREATED, recheck_params())
        with self.assertLogs(level="ERROR") as logs:
            out = self.run_event(s3_event("documents/new.md"))
        self.assertIn("ThrottlingException", logs.output[0])
        self.assertEqual(out["data_sources"][0], {"data_source": "documents", "started": None, "recheck": "recorded", "error": "ThrottlingException"})

    def test_a_failure_to_record_the_recheck_raises_so_lambda_retries_the_event(self):
        self.running()
        self.scheduler.add_client_error("create_schedule", "AccessDeniedException", "not authorized", 403, recheck_params())
        with self.assertLogs(level="ERROR") as logs, self.assertRaises(Exception):
            self.run_event(s3_event("documents/new.md"))
        self.assertIn("could not record a re-check", logs.output[0])


if __name__ == "__main__":
    unittest.main()
