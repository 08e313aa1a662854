"""The emulator's Bedrock agent runtime (Retrieve, RetrieveAndGenerate) through boto3: answers come
from the documents an ingestion job actually read, and models are checked as Bedrock checks them.
The last test runs the real query function (templates/lambda/handler.py) against it.

Run by scripts/test: .venv/bin/python -m unittest discover -s tests/emulator -p 'test_*.py'
"""
import importlib.util
import json
import os
import pathlib
import subprocess
import time
import unittest
import urllib.request
from unittest import mock

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = pathlib.Path(__file__).resolve().parents[2]
REGION = "us-east-1"
CALLER = "arn:aws:iam::123456789012:user/runtime-tester"
MODEL = f"arn:aws:bedrock:{REGION}::foundation-model/amazon.nova-micro-v1:0"
PROFILE = f"arn:aws:bedrock:{REGION}:123456789012:inference-profile/us.amazon.nova-micro-v1:0"
EOL_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
NO_ACCESS_MODEL = "amazon.nova-lite-v1:0"
DOCS = {
    "docs/returns.txt": "Our return policy lets customers send back unused items within 30 days of delivery. "
    "Refunds go to the original payment method within five business days.\nItems marked final sale are excluded.",
    "docs/shipping.txt": "Standard shipping takes three to five business days. Express shipping arrives the next "
    "business day when ordered before noon. International orders leave our Rotterdam warehouse and take up to two weeks.",
    "docs/warranty.md": "# Warranty\n\nEvery blender carries a two-year warranty against manufacturing defects. "
    "Damage from misuse or accidents is not covered. To claim, send the serial number and a photo to support.",
    "docs/warranty.md.metadata.json": json.dumps({"metadataAttributes": {"category": "warranty", "year": 2024}}),
    # Outside the data source's inclusion prefix: never ingested.
    "elsewhere/notes.txt": "The return policy of the Rotterdam warehouse allows 90 days for blender returns.",
}


class Runtime(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env = dict(os.environ, RAGSTACK_EMULATOR_CALLER="user:runtime-tester")
        cls.process = subprocess.Popen(
            [str(ROOT / "scripts/emulator"), "--port", "0", "--exit-with-parent"], stdout=subprocess.PIPE, env=env, text=True
        )
        line = cls.process.stdout.readline().strip()
        assert line.startswith("endpoint http://127.0.0.1:"), line
        cls.endpoint = line.removeprefix("endpoint ")
        delays = ("collection_create", "access_policy_propagation", "iam_propagation", "knowledge_base_create",
                  "knowledge_base_storage_propagation", "ingestion_starting", "ingestion_in_progress")
        cls.admin("POST", "/_ragstack/config", {
            "delays": {d: 0 for d in delays},
            "model_lifecycle": {EOL_MODEL: "EOL"},
            "model_access": {NO_ACCESS_MODEL: "NOT_AUTHORIZED"},
        })
        cls.runtime = cls.client("bedrock-agent-runtime")
        cls.agent = cls.client("bedrock-agent")
        cls.s3 = cls.client("s3", s3={"addressing_style": "path"})
        cls.collection_arn = cls.storage()
        cls.bucket = "runtime-docs"
        cls.kb, cls.ds = cls.knowledge_base("runtime", cls.bucket, DOCS)

    @classmethod
    def tearDownClass(cls):
        try:
            # Every request matched an operation of its API model (as the Rust tests require).
            stats = cls.admin("GET", "/_ragstack/validation")
            assert stats["unmatched"] == {}, stats
        finally:
            cls.process.terminate()
            cls.process.wait(timeout=10)
            cls.process.stdout.close()

    # -- set-up through the emulator's own services -----------------------------------------------

    @classmethod
    def admin(cls, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(cls.endpoint + path, data=data, method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as response:
            return json.load(response)

    @classmethod
    def client(cls, service, **config):
        return boto3.client(
            service, region_name=REGION, endpoint_url=cls.endpoint, aws_access_key_id="test",
            aws_secret_access_key="test", config=Config(retries={"total_max_attempts": 1}, **config),
        )

    @classmethod
    def storage(cls):
        """The least a knowledge base needs: an encryption policy, a data access policy for the
        caller, an ACTIVE collection and its vector index."""
        aoss = cls.client("opensearchserverless")
        rules = {"Rules": [{"ResourceType": "collection", "Resource": ["collection/runtime"]}], "AWSOwnedKey": True}
        aoss.create_security_policy(name="runtime-enc", type="encryption", policy=json.dumps(rules))
        access = [{"Rules": [{"ResourceType": "index", "Resource": ["index/runtime/*"], "Permission": ["aoss:*"]}], "Principal": [CALLER]}]
        aoss.create_access_policy(name="runtime-acc", type="data", policy=json.dumps(access))
        detail = aoss.create_collection(name="runtime", type="VECTORSEARCH")["createCollectionDetail"]
        vector = {"type": "knn_vector", "dimension": 1024, "method": {"engine": "faiss", "name": "hnsw"}}
        aoss.create_index(id=detail["id"], indexName="vectors", indexSchema={"mappings": {"properties": {"vector": vector}}})
        return detail["arn"]

    @classmethod
    def knowledge_base(cls, name, bucket, docs):
        """A knowledge base whose one data source (docs/) holds `docs`, synced: (kb id, ds id)."""
        cls.s3.create_bucket(Bucket=bucket)
        for key, body in docs.items():
            cls.s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
        role = cls.client("iam").create_role(RoleName=f"{name}-kb", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        kb = cls.agent.create_knowledge_base(
            name=name, roleArn=role,
            knowledgeBaseConfiguration={"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {
                "embeddingModelArn": f"arn:aws:bedrock:{REGION}::foundation-model/amazon.titan-embed-text-v2:0"}},
            storageConfiguration={"type": "OPENSEARCH_SERVERLESS", "opensearchServerlessConfiguration": {
                "collectionArn": cls.collection_arn, "vectorIndexName": "vectors",
                "fieldMapping": {"vectorField": "vector", "textField": "text", "metadataField": "metadata"}}},
        )["knowledgeBase"]["knowledgeBaseId"]
        ds = cls.agent.create_data_source(
            knowledgeBaseId=kb, name="documents",
            dataSourceConfiguration={"type": "S3", "s3Configuration": {"bucketArn": f"arn:aws:s3:::{bucket}", "inclusionPrefixes": ["docs/"]}},
            vectorIngestionConfiguration={"chunkingConfiguration": {"chunkingStrategy": "FIXED_SIZE",
                "fixedSizeChunkingConfiguration": {"maxTokens": 300, "overlapPercentage": 20}}},
        )["dataSource"]["dataSourceId"]
        cls.sync(kb, ds)
        return kb, ds

    @classmethod
    def sync(cls, kb, ds):
        job = cls.agent.start_ingestion_job(knowledgeBaseId=kb, dataSourceId=ds)["ingestionJob"]["ingestionJobId"]
        deadline = time.monotonic() + 10
        while cls.agent.get_ingestion_job(knowledgeBaseId=kb, dataSourceId=ds, ingestionJobId=job)["ingestionJob"]["status"] != "COMPLETE":
            assert time.monotonic() < deadline, "ingestion did not complete"
            time.sleep(0.05)

    def retrieve(self, text, kb=None, **search):
        out = self.runtime.retrieve(
            knowledgeBaseId=kb or self.kb, retrievalQuery={"text": text},
            retrievalConfiguration={"vectorSearchConfiguration": search} if search else {},
        )
        return out["retrievalResults"]

    def ask(self, text, model=MODEL, session=None, kb=None):
        request = {"input": {"text": text}, "retrieveAndGenerateConfiguration": {
            "type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": {"knowledgeBaseId": kb or self.kb, "modelArn": model}}}
        if session:
            request["sessionId"] = session
        return self.runtime.retrieve_and_generate(**request)

    def uri(self, key, bucket=None):
        return f"s3://{bucket or self.bucket}/{key}"

    # -- NextGen: scale to zero ----------------------------------------------------------------

    def test_the_first_query_after_an_idle_nextgen_group_waits_for_the_cold_start(self):
        aoss = self.client("opensearchserverless")
        rules = {"Rules": [{"ResourceType": "collection", "Resource": ["collection/coldstart"]}], "AWSOwnedKey": True}
        aoss.create_security_policy(name="coldstart-enc", type="encryption", policy=json.dumps(rules))
        access = [{"Rules": [{"ResourceType": "index", "Resource": ["index/coldstart/*"], "Permission": ["aoss:*"]}], "Principal": [CALLER]}]
        aoss.create_access_policy(name="coldstart-acc", type="data", policy=json.dumps(access))
        aoss.create_collection_group(name="coldstart", generation="NEXTGEN", standbyReplicas="DISABLED",
                                     capacityLimits={"minIndexingCapacityInOCU": 0, "maxIndexingCapacityInOCU": 2,
                                                     "minSearchCapacityInOCU": 0, "maxSearchCapacityInOCU": 2})
        detail = aoss.create_collection(name="coldstart", type="VECTORSEARCH", collectionGroupName="coldstart")["createCollectionDetail"]
        deadline = time.monotonic() + 10
        while aoss.batch_get_collection(ids=[detail["id"]])["collectionDetails"][0]["status"] != "ACTIVE":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # NextGen takes no explicit engine (aoss.py cites the reports).
        vector = {"type": "knn_vector", "dimension": 1024, "method": {"name": "hnsw"}}
        aoss.create_index(id=detail["id"], indexName="vectors", indexSchema={"mappings": {"properties": {"vector": vector}}})
        previous, Runtime.collection_arn = Runtime.collection_arn, detail["arn"]
        try:
            kb, _ = self.knowledge_base("coldstart", "coldstart-docs", DOCS)
        finally:
            Runtime.collection_arn = previous
        self.admin("POST", "/_ragstack/config", {"delays": {"nextgen_idle": 0.5, "nextgen_cold_start": 1.5}})
        try:
            time.sleep(0.6)  # idle: the group scaled to zero
            started = time.monotonic()
            self.assertTrue(self.retrieve("return policy", kb=kb))
            cold = time.monotonic() - started
            started = time.monotonic()
            self.retrieve("return policy", kb=kb)
            warm = time.monotonic() - started
        finally:
            self.admin("POST", "/_ragstack/config", {"delays": {"nextgen_idle": 1.0, "nextgen_cold_start": 0.0}})
        self.assertGreaterEqual(cold, 1.5, "the first query waits for the cold start")
        self.assertLess(warm, 1.0, "the next one finds the group awake")

    # -- Retrieve -------------------------------------------------------------------------------

    def test_retrieve_ranks_the_document_that_answers_first(self):
        results = self.retrieve("How many days do customers have to send back unused items?")
        first = results[0]
        self.assertEqual(first["location"], {"type": "S3", "s3Location": {"uri": self.uri("docs/returns.txt")}})
        self.assertIn("within 30 days of delivery", first["content"]["text"])
        self.assertEqual(first["content"]["type"], "TEXT")
        self.assertTrue(0 < first["score"] < 1, first["score"])
        self.assertEqual(first["metadata"]["x-amz-bedrock-kb-source-uri"], self.uri("docs/returns.txt"))
        self.assertEqual(first["metadata"]["x-amz-bedrock-kb-data-source-id"], self.ds)
        self.assertEqual([r["score"] for r in results], sorted((r["score"] for r in results), reverse=True))
        uris = {r["location"]["s3Location"]["uri"] for r in self.retrieve("Rotterdam warehouse return policy blender")}
        self.assertNotIn(self.uri("elsewhere/notes.txt"), uris, "only the inclusion prefix is ingested")
        self.assertNotIn(self.uri("docs/warranty.md.metadata.json"), uris, "a metadata file is not a document")

    def test_retrieve_honours_number_of_results_and_metadata_filters(self):
        self.assertEqual(len(self.retrieve("business days shipping returns", numberOfResults=1)), 1)
        only = self.retrieve("blender shipping returns", filter={"equals": {"key": "category", "value": "warranty"}})
        self.assertEqual([r["location"]["s3Location"]["uri"] for r in only], [self.uri("docs/warranty.md")])
        self.assertEqual(only[0]["metadata"]["year"], 2024.0)
        by_source = self.retrieve("business days", filter={"equals": {"key": "x-amz-bedrock-kb-source-uri", "value": self.uri("docs/shipping.txt")}})
        self.assertEqual({r["location"]["s3Location"]["uri"] for r in by_source}, {self.uri("docs/shipping.txt")})
        self.assertEqual(self.retrieve("quantum chromodynamics"), [])

    def test_an_unknown_knowledge_base_is_not_found(self):
        for call in (lambda: self.retrieve("returns", kb="NOSUCHKB00"), lambda: self.ask("returns", kb="NOSUCHKB00")):
            with self.assertRaises(ClientError) as e:
                call()
            self.assertEqual(e.exception.response["Error"]["Code"], "ResourceNotFoundException")

    # -- RetrieveAndGenerate --------------------------------------------------------------------

    def test_an_answer_cites_its_source_and_a_follow_up_keeps_the_session(self):
        out = self.ask("When does express shipping arrive?")
        self.assertIn("next business day", out["output"]["text"])
        part = out["citations"][0]["generatedResponsePart"]["textResponsePart"]
        self.assertEqual(out["output"]["text"][part["span"]["start"] : part["span"]["end"] + 1], part["text"])
        reference = out["citations"][0]["retrievedReferences"][0]
        self.assertEqual(reference["location"]["s3Location"]["uri"], self.uri("docs/shipping.txt"))
        self.assertIn("Express shipping", reference["content"]["text"])
        session = out["sessionId"]

        # Alone, "And what if I dropped it?" matches nothing; in the session it is about the blender.
        self.assertEqual(self.ask("And what if I dropped it?")["output"]["text"], "Sorry, I am unable to assist you with this request.")
        first = self.ask("Is the blender under warranty?", session=session)
        self.assertEqual(first["sessionId"], session)
        follow_up = self.ask("And what if I dropped it?", session=session)
        self.assertEqual(follow_up["sessionId"], session)
        cited = {r["location"]["s3Location"]["uri"] for c in follow_up["citations"] for r in c["retrievedReferences"]}
        self.assertEqual(cited, {self.uri("docs/warranty.md")})

    def test_an_inference_profile_works_and_an_unknown_session_is_refused(self):
        out = self.ask("How long do refunds take?", model=PROFILE)
        self.assertIn("Refunds go to the original payment method", out["output"]["text"])
        with self.assertRaises(ClientError) as e:
            self.ask("How long do refunds take?", session="not-a-session-bedrock-issued")
        self.assertEqual(e.exception.response["Error"]["Code"], "ValidationException")
        self.assertIn("is not valid", e.exception.response["Error"]["Message"])

    def test_a_model_past_its_end_of_life_or_without_access_is_refused(self):
        with self.assertRaises(ClientError) as e:
            self.ask("returns", model=f"arn:aws:bedrock:{REGION}::foundation-model/{EOL_MODEL}")
        self.assertEqual(e.exception.response["Error"]["Code"], "ResourceNotFoundException")
        self.assertIn("end of its life", e.exception.response["Error"]["Message"])
        with self.assertRaises(ClientError) as e:
            self.ask("returns", model=f"arn:aws:bedrock:{REGION}::foundation-model/{NO_ACCESS_MODEL}")
        self.assertEqual(e.exception.response["Error"]["Code"], "ValidationException")
        self.assertIn("don't have access to the model", e.exception.response["Error"]["Message"])

    def test_a_change_in_s3_reaches_the_knowledge_base_only_by_a_sync(self):
        bucket = "runtime-changes"
        kb, ds = self.knowledge_base("runtimechanges", bucket, {k: v for k, v in DOCS.items() if k.startswith("docs/")})
        self.s3.put_object(Bucket=bucket, Key="docs/returns.txt", Body=b"Customers may send back unused items within 60 days.")
        self.s3.delete_object(Bucket=bucket, Key="docs/shipping.txt")
        before = self.retrieve("send back unused items days", kb=kb)
        self.assertIn("30 days", before[0]["content"]["text"], "the old text until the next sync")
        self.assertTrue(self.retrieve("express shipping", kb=kb), "a deleted document stays until the next sync")
        self.sync(kb, ds)
        self.assertEqual(self.retrieve("send back unused items days", kb=kb)[0]["content"]["text"], "Customers may send back unused items within 60 days.")
        self.assertNotIn(self.uri("docs/shipping.txt", bucket), {r["location"]["s3Location"]["uri"] for r in self.retrieve("express shipping", kb=kb)})

    def test_queries_are_logged_as_reads_of_their_api_operation(self):
        self.retrieve("returns")
        calls = [c for c in self.admin("GET", "/_ragstack/calls")["calls"] if c["operation"] in ("Retrieve", "RetrieveAndGenerate")]
        self.assertTrue(calls)
        for c in calls:
            self.assertEqual((c["service"], c["api_operation"], c["mutating"]), ("bedrock", c["operation"], False))

    # -- the real query function ----------------------------------------------------------------

    def test_the_query_function_answers_from_the_emulator(self):
        environment = mock.patch.dict(os.environ, {
            "KNOWLEDGE_BASE_ID": self.kb, "GENERATION_MODEL_ARN": PROFILE, "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        })
        environment.start()
        self.addCleanup(environment.stop)
        spec = importlib.util.spec_from_file_location("handler", ROOT / "templates/lambda/handler.py")
        handler = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(handler)

        def query(body):
            out = handler.handler({"httpMethod": "POST", "resource": "/rag/query", "body": json.dumps(body)}, None)
            return out["statusCode"], json.loads(out["body"])

        status, body = query({"question": "How long does international shipping take?"})
        self.assertEqual(status, 200, body)
        self.assertIn("up to two weeks", body["answer"])
        self.assertEqual(body["citations"][0]["uri"], self.uri("docs/shipping.txt"))
        status, again = query({"question": "And standard?", "sessionId": body["sessionId"]})
        self.assertEqual((status, again["sessionId"]), (200, body["sessionId"]))
        os.environ["GENERATION_MODEL_ARN"] = f"arn:aws:bedrock:{REGION}::foundation-model/{NO_ACCESS_MODEL}"
        status, refused = query({"question": "How long does international shipping take?"})
        self.assertEqual((status, refused["error"]["code"]), (403, "model_access"))


if __name__ == "__main__":
    unittest.main()
