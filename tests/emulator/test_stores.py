"""The emulator's other vector stores through boto3: the Amazon S3 Vectors control plane
(s3vectors.py), knowledge bases on S3 Vectors, and managed knowledge bases with their managed
connector data sources (bedrock_agent.py, bedrock_runtime.py).

Run by scripts/test: .venv/bin/python -m unittest discover -s tests/emulator -p 'test_*.py'
"""
import datetime
import json
import os
import pathlib
import subprocess
import sys
import time
import unittest
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests/emulator"))

REGION = "us-east-1"
ACCOUNT = "123456789012"
EMBEDDING = f"arn:aws:bedrock:{REGION}::foundation-model/amazon.titan-embed-text-v2:0"
MODEL = f"arn:aws:bedrock:{REGION}::foundation-model/amazon.nova-micro-v1:0"
NON_FILTERABLE = {"nonFilterableMetadataKeys": ["AMAZON_BEDROCK_TEXT", "AMAZON_BEDROCK_METADATA"]}
# More than 2 KB of text: fine in an index that keeps Bedrock's text non-filterable, refused by
# S3 Vectors otherwise.
LONG = "The lighthouse keeper records the tide and the wind every hour of the night. " * 40
DOCS = {
    "docs/returns.txt": "Our return policy lets customers send back unused items within 30 days of delivery.",
    "docs/lighthouse.txt": LONG,
}
DELAYS = ("collection_create", "access_policy_propagation", "iam_propagation", "knowledge_base_create",
          "knowledge_base_storage_propagation", "ingestion_starting", "ingestion_in_progress")


class Stores(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env = dict(os.environ, RAGSTACK_EMULATOR_CALLER="user:stores-tester")
        cls.process = subprocess.Popen(
            [str(ROOT / "scripts/emulator"), "--port", "0", "--exit-with-parent"], stdout=subprocess.PIPE, env=env, text=True
        )
        line = cls.process.stdout.readline().strip()
        assert line.startswith("endpoint http://127.0.0.1:"), line
        cls.endpoint = line.removeprefix("endpoint ")
        cls.admin("POST", "/_ragstack/config", {"delays": dict({d: 0 for d in DELAYS}, managed_data_source_create=0.6)})
        cls.vectors = cls.client("s3vectors")
        # What boto3 would refuse itself (a name shorter than the model's minimum) must reach the emulator.
        cls.unchecked = cls.client("s3vectors", parameter_validation=False)
        cls.agent = cls.client("bedrock-agent")
        cls.runtime = cls.client("bedrock-agent-runtime")
        cls.s3 = cls.client("s3", s3={"addressing_style": "path"})
        cls.iam = cls.client("iam")
        cls.bucket = "stores-docs"
        cls.s3.create_bucket(Bucket=cls.bucket)
        for key, body in DOCS.items():
            cls.s3.put_object(Bucket=cls.bucket, Key=key, Body=body.encode())

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

    # -- helpers --------------------------------------------------------------------------------

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

    def refused(self, call, code, status=None, text=None):
        with self.assertRaises(ClientError) as e:
            call()
        error = e.exception.response
        self.assertEqual(error["Error"]["Code"], code, error)
        if status is not None:
            self.assertEqual(error["ResponseMetadata"]["HTTPStatusCode"], status)
        if text is not None:
            self.assertIn(text, error["Error"]["Message"])
        return error["Error"]["Message"]

    def role(self, name):
        return self.iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]

    def index(self, bucket, name, dimension=1024, **extra):
        return self.vectors.create_index(vectorBucketName=bucket, indexName=name, dataType="float32",
                                         dimension=dimension, distanceMetric="cosine", **extra)["indexArn"]

    def vector_kb(self, name, s3_vectors_configuration):
        return self.agent.create_knowledge_base(
            name=name, roleArn=self.role(f"{name}-kb"),
            knowledgeBaseConfiguration={"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": EMBEDDING}},
            storageConfiguration={"type": "S3_VECTORS", "s3VectorsConfiguration": s3_vectors_configuration},
        )["knowledgeBase"]

    def managed_kb(self, name, **managed):
        return self.agent.create_knowledge_base(
            name=name, roleArn=self.role(f"{name}-kb"),
            knowledgeBaseConfiguration={"type": "MANAGED", "managedKnowledgeBaseConfiguration": managed or {"embeddingModelType": "MANAGED"}},
        )["knowledgeBase"]

    def s3_source(self, kb, name="documents"):
        return self.agent.create_data_source(
            knowledgeBaseId=kb, name=name,
            dataSourceConfiguration={"type": "S3", "s3Configuration": {"bucketArn": f"arn:aws:s3:::{self.bucket}", "inclusionPrefixes": ["docs/"]}},
        )["dataSource"]

    def connector_source(self, kb, name="documents", **extra):
        return self.agent.create_data_source(
            knowledgeBaseId=kb, name=name,
            dataSourceConfiguration={"type": "MANAGED_KNOWLEDGE_BASE_CONNECTOR", "managedKnowledgeBaseConnectorConfiguration": {
                "connectorParameters": {
                    "type": "S3", "version": "1",
                    "connectionConfiguration": {"bucketName": self.bucket, "bucketOwnerAccountId": ACCOUNT},
                    "filterConfiguration": {"inclusionPrefixes": ["docs/"]},
                }}},
            **extra,
        )["dataSource"]

    def sync(self, kb, ds):
        job = self.agent.start_ingestion_job(knowledgeBaseId=kb, dataSourceId=ds)["ingestionJob"]["ingestionJobId"]
        deadline = time.monotonic() + 10
        while True:
            detail = self.agent.get_ingestion_job(knowledgeBaseId=kb, dataSourceId=ds, ingestionJobId=job)["ingestionJob"]
            if detail["status"] == "COMPLETE":
                return detail
            self.assertLess(time.monotonic(), deadline, "ingestion did not complete")
            time.sleep(0.05)

    def uris(self, results):
        return {r["location"]["s3Location"]["uri"] for r in results}

    # -- S3 Vectors: vector buckets -------------------------------------------------------------

    def test_a_vector_bucket_is_created_read_by_name_or_arn_listed_and_unique(self):
        arn = self.vectors.create_vector_bucket(vectorBucketName="stores-alpha")["vectorBucketArn"]
        self.assertEqual(arn, f"arn:aws:s3vectors:{REGION}:{ACCOUNT}:bucket/stores-alpha")
        by_name = self.vectors.get_vector_bucket(vectorBucketName="stores-alpha")["vectorBucket"]
        by_arn = self.vectors.get_vector_bucket(vectorBucketArn=arn)["vectorBucket"]
        self.assertEqual(by_name, by_arn)
        self.assertEqual((by_name["vectorBucketName"], by_name["vectorBucketArn"]), ("stores-alpha", arn))
        self.assertIsInstance(by_name["creationTime"], datetime.datetime)
        self.assertLess(abs(by_name["creationTime"].timestamp() - time.time()), 60)
        self.assertEqual(by_name["encryptionConfiguration"], {"sseType": "AES256"}, "SSE-S3 by default")
        self.refused(lambda: self.vectors.create_vector_bucket(vectorBucketName="stores-alpha"), "ConflictException", 409)
        self.refused(lambda: self.vectors.get_vector_bucket(vectorBucketName="stores-nosuch"), "NotFoundException", 404)

        self.vectors.create_vector_bucket(vectorBucketName="stores-beta", encryptionConfiguration={
            "sseType": "aws:kms", "kmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"})
        listed = self.vectors.list_vector_buckets(prefix="stores-")["vectorBuckets"]
        self.assertEqual([b["vectorBucketName"] for b in listed][:2], ["stores-alpha", "stores-beta"])
        self.assertEqual(set(listed[0]), {"vectorBucketName", "vectorBucketArn", "creationTime"})
        first = self.vectors.list_vector_buckets(prefix="stores-", maxResults=1)
        self.assertEqual([b["vectorBucketName"] for b in first["vectorBuckets"]], ["stores-alpha"])
        second = self.vectors.list_vector_buckets(prefix="stores-", maxResults=1, nextToken=first["nextToken"])
        self.assertEqual([b["vectorBucketName"] for b in second["vectorBuckets"]], ["stores-beta"])
        # kmsKeyArn "is allowed if and only if sseType is set to aws:kms".
        self.refused(lambda: self.vectors.create_vector_bucket(vectorBucketName="stores-gamma", encryptionConfiguration={
            "sseType": "AES256", "kmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/x"}), "ValidationException", 400)

    def test_vector_bucket_and_index_names_follow_the_naming_rules(self):
        for bad in ("Stores-upper", "stores_underscore", "-stores", "stores-", "stores.dotted", "ab", "x" * 64):
            self.refused(lambda: self.unchecked.create_vector_bucket(vectorBucketName=bad), "ValidationException", 400)
        self.vectors.create_vector_bucket(vectorBucketName="stores-names-1")
        self.index("stores-names-1", "idx.v1-a")
        for bad in ("Idx", ".idx", "idx-", "idx_a", "ix"):
            self.refused(lambda: self.unchecked.create_index(vectorBucketName="stores-names-1", indexName=bad, dataType="float32",
                                                             dimension=8, distanceMetric="cosine"), "ValidationException", 400)

    # -- S3 Vectors: indexes --------------------------------------------------------------------

    def test_an_index_is_created_read_listed_and_deleted_before_its_bucket(self):
        kms = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/5678"
        bucket_arn = self.vectors.create_vector_bucket(vectorBucketName="stores-idx", encryptionConfiguration={
            "sseType": "aws:kms", "kmsKeyArn": kms})["vectorBucketArn"]
        wide = self.index("stores-idx", "wide", dimension=4096, metadataConfiguration=NON_FILTERABLE)
        self.assertEqual(wide, f"{bucket_arn}/index/wide")
        self.refused(lambda: self.index("stores-idx", "too-wide", dimension=4097), "ValidationException", 400, "4096")
        self.refused(lambda: self.index("stores-idx", "wide"), "ConflictException", 409)
        self.refused(lambda: self.index("stores-nosuch", "wide"), "NotFoundException", 404)
        plain = self.vectors.create_index(vectorBucketArn=bucket_arn, indexName="plain", dataType="float32",
                                          dimension=8, distanceMetric="euclidean")["indexArn"]

        got = self.vectors.get_index(indexArn=wide)["index"]
        self.assertEqual(got, self.vectors.get_index(vectorBucketName="stores-idx", indexName="wide")["index"])
        self.assertEqual((got["vectorBucketName"], got["indexName"], got["indexArn"]), ("stores-idx", "wide", wide))
        self.assertEqual((got["dataType"], got["dimension"], got["distanceMetric"]), ("float32", 4096, "cosine"))
        self.assertEqual(got["metadataConfiguration"], NON_FILTERABLE)
        self.assertIsInstance(got["creationTime"], datetime.datetime)
        self.assertEqual(got["encryptionConfiguration"], {"sseType": "aws:kms", "kmsKeyArn": kms}, "the bucket's")
        self.assertNotIn("metadataConfiguration", self.vectors.get_index(indexArn=plain)["index"], "only when set")
        self.refused(lambda: self.vectors.get_index(vectorBucketName="stores-idx", indexName="nosuch"), "NotFoundException", 404)
        self.assertEqual([i["indexName"] for i in self.vectors.list_indexes(vectorBucketName="stores-idx")["indexes"]], ["plain", "wide"])
        self.assertEqual([i["indexArn"] for i in self.vectors.list_indexes(vectorBucketArn=bucket_arn, prefix="pl")["indexes"]], [plain])

        self.refused(lambda: self.vectors.delete_vector_bucket(vectorBucketName="stores-idx"), "ConflictException", 409)
        self.vectors.delete_index(indexArn=wide)
        self.vectors.delete_index(vectorBucketName="stores-idx", indexName="plain")
        self.refused(lambda: self.vectors.delete_index(indexArn=wide), "NotFoundException", 404)
        self.vectors.delete_vector_bucket(vectorBucketArn=bucket_arn)
        self.refused(lambda: self.vectors.get_vector_bucket(vectorBucketName="stores-idx"), "NotFoundException", 404)

    def test_tags_on_buckets_and_indexes_go_with_the_resource(self):
        bucket_arn = self.vectors.create_vector_bucket(vectorBucketName="stores-tags", tags={"project": "ragstack"})["vectorBucketArn"]
        index_arn = self.index("stores-tags", "tagged", tags={"layer": "index"})
        self.assertEqual(self.vectors.list_tags_for_resource(resourceArn=bucket_arn)["tags"], {"project": "ragstack"})
        self.assertEqual(self.vectors.list_tags_for_resource(resourceArn=index_arn)["tags"], {"layer": "index"})
        self.vectors.tag_resource(resourceArn=index_arn, tags={"owner": "stores", "layer": "vectors"})
        self.vectors.untag_resource(resourceArn=bucket_arn, tagKeys=["project"])
        self.assertEqual(self.vectors.list_tags_for_resource(resourceArn=index_arn)["tags"], {"layer": "vectors", "owner": "stores"})
        self.assertEqual(self.vectors.list_tags_for_resource(resourceArn=bucket_arn)["tags"], {})
        unknown = f"arn:aws:s3vectors:{REGION}:{ACCOUNT}:bucket/stores-tags/index/nosuch"
        self.refused(lambda: self.vectors.list_tags_for_resource(resourceArn=unknown), "NotFoundException", 404)
        self.refused(lambda: self.vectors.tag_resource(resourceArn=unknown, tags={"a": "b"}), "NotFoundException", 404)
        self.vectors.delete_index(indexArn=index_arn)
        self.refused(lambda: self.vectors.list_tags_for_resource(resourceArn=index_arn), "NotFoundException", 404)
        self.index("stores-tags", "tagged")
        self.assertEqual(self.vectors.list_tags_for_resource(resourceArn=index_arn)["tags"], {}, "a new index has no old tags")

    def test_s3_vectors_calls_are_logged_by_operation_name(self):
        self.vectors.create_vector_bucket(vectorBucketName="stores-log")
        arn = self.index("stores-log", "logged")
        self.vectors.get_index(indexArn=arn)
        self.vectors.list_tags_for_resource(resourceArn=arn)
        self.vectors.tag_resource(resourceArn=arn, tags={"a": "b"})
        self.vectors.untag_resource(resourceArn=arn, tagKeys=["a"])
        self.vectors.list_indexes(vectorBucketName="stores-log")
        calls = [c for c in self.admin("GET", "/_ragstack/calls")["calls"] if c["service"] == "s3vectors"]
        seen = {c["operation"]: c for c in calls}
        for op, mutating in (("CreateVectorBucket", True), ("CreateIndex", True), ("GetIndex", False), ("ListTagsForResource", False),
                             ("TagResource", True), ("UntagResource", True), ("ListIndexes", False)):
            self.assertEqual((seen[op]["api_operation"], seen[op]["mutating"]), (op, mutating), seen[op])
        # A request the API model refuses names no api_operation (contract.py), as for every service.
        self.assertTrue(all(c["api_operation"] == c["operation"] for c in calls if c["status"] < 400), calls)

    def test_s3_vectors_actions_are_evaluated_against_their_resource_types(self):
        from ragstack_emulator import iam_auth

        bucket = f"arn:aws:s3vectors:{REGION}:{ACCOUNT}:bucket/b1"

        def needs(op, params):
            return [(a, r) for a, r, _ in iam_auth.requirements("s3vectors", op, params, {"REQUEST_METHOD": "POST"}, b"", ACCOUNT, REGION)]

        self.assertEqual(needs("CreateVectorBucket", {"vectorBucketName": "b1", "tags": {"a": "b"}}),
                         [("s3vectors:CreateVectorBucket", bucket), ("s3vectors:TagResource", bucket)])
        self.assertEqual(needs("CreateIndex", {"vectorBucketArn": bucket, "indexName": "i1"}), [("s3vectors:CreateIndex", f"{bucket}/index/i1")])
        self.assertEqual(needs("ListIndexes", {"vectorBucketName": "b1"}), [("s3vectors:ListIndexes", bucket)])
        self.assertEqual(needs("GetIndex", {"indexArn": f"{bucket}/index/i1"}), [("s3vectors:GetIndex", f"{bucket}/index/i1")])
        self.assertEqual(needs("ListVectorBuckets", {}), [("s3vectors:ListVectorBuckets", "*")])
        self.assertEqual(needs("UntagResource", {"resourceArn": bucket, "tagKeys": ["a"]}), [("s3vectors:UntagResource", bucket)])

    # -- knowledge bases on S3 Vectors ----------------------------------------------------------

    def test_a_knowledge_base_on_s3_vectors_ingests_and_answers_semantic_queries_only(self):
        bucket_arn = self.vectors.create_vector_bucket(vectorBucketName="stores-kb")["vectorBucketArn"]
        index_arn = self.index("stores-kb", "bedrock", metadataConfiguration=NON_FILTERABLE)
        kb = self.vector_kb("storess3v", {"indexArn": index_arn})
        self.assertEqual(kb["storageConfiguration"], {"type": "S3_VECTORS", "s3VectorsConfiguration": {"indexArn": index_arn}})
        got = self.agent.get_knowledge_base(knowledgeBaseId=kb["knowledgeBaseId"])["knowledgeBase"]
        self.assertEqual(got["storageConfiguration"], kb["storageConfiguration"], "as sent")
        ds = self.s3_source(kb["knowledgeBaseId"])["dataSourceId"]
        job = self.sync(kb["knowledgeBaseId"], ds)
        self.assertEqual((job["statistics"]["numberOfNewDocumentsIndexed"], job["statistics"]["numberOfDocumentsFailed"]), (2, 0))
        self.assertNotIn("failureReasons", job)

        semantic = self.runtime.retrieve(knowledgeBaseId=kb["knowledgeBaseId"], retrievalQuery={"text": "lighthouse keeper tide"},
                                         retrievalConfiguration={"vectorSearchConfiguration": {"overrideSearchType": "SEMANTIC"}})
        self.assertIn(f"s3://{self.bucket}/docs/lighthouse.txt", self.uris(semantic["retrievalResults"]))
        self.refused(lambda: self.runtime.retrieve(
            knowledgeBaseId=kb["knowledgeBaseId"], retrievalQuery={"text": "lighthouse"},
            retrievalConfiguration={"vectorSearchConfiguration": {"overrideSearchType": "HYBRID"}}), "ValidationException", 400, "SEMANTIC")
        self.refused(lambda: self.runtime.retrieve(
            knowledgeBaseId=kb["knowledgeBaseId"], retrievalQuery={"text": "lighthouse"},
            retrievalConfiguration={"managedSearchConfiguration": {"numberOfResults": 2}}), "ValidationException", 400)
        self.assertEqual(bucket_arn, f"arn:aws:s3vectors:{REGION}:{ACCOUNT}:bucket/stores-kb")

    def test_an_index_with_filterable_bedrock_text_fails_documents_over_2_kb(self):
        bucket_arn = self.vectors.create_vector_bucket(vectorBucketName="stores-strict")["vectorBucketArn"]
        self.index("stores-strict", "bedrock")  # no metadataConfiguration: everything is filterable
        kb = self.vector_kb("storesstrict", {"vectorBucketArn": bucket_arn, "indexName": "bedrock"})["knowledgeBaseId"]
        ds = self.s3_source(kb)["dataSourceId"]
        job = self.sync(kb, ds)
        self.assertEqual(job["status"], "COMPLETE", "failed documents do not fail the job")
        stats = job["statistics"]
        self.assertEqual((stats["numberOfDocumentsScanned"], stats["numberOfNewDocumentsIndexed"], stats["numberOfDocumentsFailed"]), (2, 1, 1))
        self.assertEqual(len(job["failureReasons"]), 1)
        self.assertIn("Filterable metadata must have at most 2048 bytes", job["failureReasons"][0])
        self.assertIn(f"s3://{self.bucket}/docs/lighthouse.txt", job["failureReasons"][0])
        found = self.runtime.retrieve(knowledgeBaseId=kb, retrievalQuery={"text": "return policy lighthouse keeper tide"})["retrievalResults"]
        self.assertEqual(self.uris(found), {f"s3://{self.bucket}/docs/returns.txt"}, "a failed document is not in the knowledge base")
        again = self.sync(kb, ds)["statistics"]
        self.assertEqual((again["numberOfNewDocumentsIndexed"], again["numberOfDocumentsFailed"]), (0, 1), "it fails again")

    def test_an_s3_vectors_storage_must_name_an_index_of_the_embedding_size(self):
        bucket_arn = self.vectors.create_vector_bucket(vectorBucketName="stores-checks")["vectorBucketArn"]
        small = self.index("stores-checks", "small", dimension=512)
        self.refused(lambda: self.vector_kb("storesnoindex", {"indexArn": f"{bucket_arn}/index/nosuch"}),
                     "ValidationException", 400, "storage configuration provided is invalid")
        self.refused(lambda: self.vector_kb("storessmall", {"indexArn": small}), "ValidationException", 400, "Dimension should be: 512")
        self.refused(lambda: self.vector_kb("storesboth", {"indexArn": small, "vectorBucketArn": bucket_arn}), "ValidationException", 400)
        self.refused(lambda: self.vector_kb("storesnoname", {"vectorBucketArn": bucket_arn}), "ValidationException", 400)
        self.admin("POST", "/_ragstack/config", {"delays": {"iam_propagation": 30}})
        try:
            self.index("stores-checks", "right")
            self.refused(lambda: self.vector_kb("storesyoung", {"vectorBucketArn": bucket_arn, "indexName": "right"}),
                         "ValidationException", 400, "unable to assume the given role")
        finally:
            self.admin("POST", "/_ragstack/config", {"delays": {"iam_propagation": 0}})

    # -- managed knowledge bases ----------------------------------------------------------------

    def test_a_managed_knowledge_base_syncs_a_managed_connector_once_it_is_available(self):
        kb = self.managed_kb("storesmanaged")
        kb_id = kb["knowledgeBaseId"]
        self.assertNotIn("storageConfiguration", kb)
        self.assertNotIn("storageConfiguration", self.agent.get_knowledge_base(knowledgeBaseId=kb_id)["knowledgeBase"])
        ds = self.connector_source(kb_id)
        self.assertEqual(ds["status"], "CREATING", "CreateDataSource is asynchronous for managed knowledge bases")
        self.refused(lambda: self.agent.start_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds["dataSourceId"]),
                     "ValidationException", 400, "AVAILABLE")
        deadline = time.monotonic() + 10
        while self.agent.get_data_source(knowledgeBaseId=kb_id, dataSourceId=ds["dataSourceId"])["dataSource"]["status"] != "AVAILABLE":
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        self.assertEqual(self.agent.list_data_sources(knowledgeBaseId=kb_id)["dataSourceSummaries"][0]["status"], "AVAILABLE")
        stats = self.sync(kb_id, ds["dataSourceId"])["statistics"]
        self.assertEqual((stats["numberOfNewDocumentsIndexed"], stats["numberOfDocumentsFailed"]), (2, 0))

        results = self.runtime.retrieve(knowledgeBaseId=kb_id, retrievalQuery={"text": "send back unused items days lighthouse"},
                                        retrievalConfiguration={"managedSearchConfiguration": {"numberOfResults": 1}})["retrievalResults"]
        self.assertEqual(len(results), 1)
        self.assertEqual(results[0]["metadata"], {"_data_source_id": ds["dataSourceId"]})
        everything = self.runtime.retrieve(knowledgeBaseId=kb_id, retrievalQuery={"text": "send back unused items lighthouse"})["retrievalResults"]
        self.assertEqual(self.uris(everything), {f"s3://{self.bucket}/docs/returns.txt", f"s3://{self.bucket}/docs/lighthouse.txt"})
        self.refused(lambda: self.runtime.retrieve(
            knowledgeBaseId=kb_id, retrievalQuery={"text": "returns"},
            retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": 1}}), "ValidationException", 400, "Use managedSearchConfiguration")
        answer = self.runtime.retrieve_and_generate(input={"text": "How many days to send back unused items?"}, retrieveAndGenerateConfiguration={
            "type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": {"knowledgeBaseId": kb_id, "modelArn": MODEL,
            "retrievalConfiguration": {"managedSearchConfiguration": {"numberOfResults": 3}}}})
        self.assertIn("30 days", answer["output"]["text"])
        self.agent.delete_data_source(knowledgeBaseId=kb_id, dataSourceId=ds["dataSourceId"])
        self.assertEqual(self.agent.list_data_sources(knowledgeBaseId=kb_id)["dataSourceSummaries"], [])

    def test_a_managed_knowledge_base_refuses_what_belongs_to_vector_ones(self):
        role = self.role("storesrefusals-kb")
        self.refused(lambda: self.agent.create_knowledge_base(
            name="storesmanagedstorage", roleArn=role,
            knowledgeBaseConfiguration={"type": "MANAGED", "managedKnowledgeBaseConfiguration": {"embeddingModelType": "MANAGED"}},
            storageConfiguration={"type": "S3_VECTORS", "s3VectorsConfiguration": {"indexArn": f"arn:aws:s3vectors:{REGION}:{ACCOUNT}:bucket/b/index/i"}},
        ), "ValidationException", 400)
        self.refused(lambda: self.managed_kb("storescustomnoarn", embeddingModelType="CUSTOM"), "ValidationException", 400)
        managed = self.managed_kb("storesmanagedrefusals")["knowledgeBaseId"]
        self.refused(lambda: self.s3_source(managed), "ValidationException", 400, "Unsupported data source type for MANAGED knowledge base type")
        chunking = {"chunkingConfiguration": {"chunkingStrategy": "FIXED_SIZE", "fixedSizeChunkingConfiguration": {"maxTokens": 300, "overlapPercentage": 20}}}
        self.refused(lambda: self.connector_source(managed, vectorIngestionConfiguration=chunking), "ValidationException", 400,
                     "A chunking strategy cannot be specified with a managed embedding model.")
        custom = self.managed_kb("storesmanagedcustom", embeddingModelType="CUSTOM", embeddingModelArn=EMBEDDING)["knowledgeBaseId"]
        self.assertEqual(self.connector_source(custom, vectorIngestionConfiguration=chunking)["status"], "CREATING", "chunking with a custom model")

        bucket_arn = self.vectors.create_vector_bucket(vectorBucketName="stores-vector-kb")["vectorBucketArn"]
        self.index("stores-vector-kb", "bedrock", metadataConfiguration=NON_FILTERABLE)
        vector = self.vector_kb("storesvectorsources", {"vectorBucketArn": bucket_arn, "indexName": "bedrock"})["knowledgeBaseId"]
        self.assertEqual(self.s3_source(vector)["status"], "AVAILABLE", "an S3 data source on a VECTOR knowledge base")
        self.refused(lambda: self.connector_source(vector, name="connector"), "ValidationException", 400)


if __name__ == "__main__":
    unittest.main()
