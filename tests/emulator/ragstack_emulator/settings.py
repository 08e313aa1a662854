"""Delay profiles and fault rates, from environment variables (flags of __main__ set them too).

Profiles:
  test       sub-second delays, so tests see every state without waiting.
  realistic  AWS's published or commonly reported magnitudes divided by REALISTIC_SCALE, for
             benchmarks (a collection's ~8 minutes of CREATING becomes 8 s).

Every delay can be overridden with RAGSTACK_EMULATOR_<NAME>_SECONDS, e.g.
RAGSTACK_EMULATOR_COLLECTION_CREATE_SECONDS=2.
"""
import os

REALISTIC_SCALE = 60.0

# AWS magnitudes in seconds (sources: docs/ARCHITECTURE.md, "AWS behaviours"; AOSS collection creation is reported at
# 5-12 minutes, data access policy propagation up to about a minute, IAM propagation seconds,
# knowledge base creation tens of seconds, the
# knowledge base's view of a new index or access policy about a minute (reported in the issues cited there), ingestion of a small corpus about a minute).
_AWS_SECONDS = {
    "collection_create": 480.0,
    "collection_delete": 120.0,
    "access_policy_propagation": 60.0,
    "iam_propagation": 10.0,
    "knowledge_base_create": 30.0,
    "knowledge_base_delete": 30.0,
    "knowledge_base_storage_propagation": 60.0,
    "ingestion_starting": 15.0,
    "ingestion_in_progress": 60.0,
    # A NextGen collection "provisions infrastructure in seconds instead of minutes" (AWS Big Data
    # Blog, "The next generation of Amazon OpenSearch Serverless"); 20 s is our reading of seconds.
    "collection_create_nextgen": 20.0,
    # A NextGen group scales to zero "after 10 minutes of no incoming requests across all
    # collections in the group. This idle period is not configurable" (developer guide, "Scale to
    # zero for Amazon OpenSearch Serverless"). RAGSTACK_EMULATOR_NEXTGEN_IDLE_SECONDS overrides it.
    "nextgen_idle": 600.0,
    # The first request after scaling to zero waits while capacity comes back: "Expect 10–30
    # seconds of latency on the first request to each component" (the same page); 20 s here.
    "nextgen_cold_start": 20.0,
    # A managed knowledge base's data source is CREATING, then AVAILABLE ("the CreateDataSource
    # operation is asynchronous", Bedrock User Guide, "Connect a data source"); the page gives no
    # duration, so a minute is our guess.
    "managed_data_source_create": 60.0,
}

_TEST_SECONDS = {
    "collection_create": 0.6,
    "collection_delete": 0.3,
    "access_policy_propagation": 0.5,
    "iam_propagation": 0.4,
    "knowledge_base_create": 0.3,
    "knowledge_base_delete": 0.3,
    "knowledge_base_storage_propagation": 0.6,
    "ingestion_starting": 0.2,
    "ingestion_in_progress": 0.3,
    "collection_create_nextgen": 0.1,
    "nextgen_idle": 1.0,
    # Off unless a test asks for it (POST /_ragstack/config {"delays": {"nextgen_cold_start": ...}}).
    "nextgen_cold_start": 0.0,
    "managed_data_source_create": 0.3,
}

PROFILES = {
    "test": _TEST_SECONDS,
    "realistic": {k: v / REALISTIC_SCALE for k, v in _AWS_SECONDS.items()},
}


MODEL_ACCESS = ("AUTHORIZED", "NOT_AUTHORIZED", "AGREEMENT_PENDING", "NOT_ENTITLED")
# A model's lifecycle as Bedrock reports it (models.py explains each value).
MODEL_LIFECYCLES = ("ACTIVE", "LEGACY", "EOL", "EOL_GONE")
CALLERS = ("moto", "root", "user", "role", "federated")


class Settings:
    def __init__(self, environ=os.environ):
        self.profile = environ.get("RAGSTACK_EMULATOR_PROFILE", "test")
        if self.profile not in PROFILES:
            raise SystemExit(f"RAGSTACK_EMULATOR_PROFILE={self.profile!r}: allowed: {', '.join(PROFILES)}")
        self.delays = dict(PROFILES[self.profile])
        for name in self.delays:
            override = environ.get(f"RAGSTACK_EMULATOR_{name.upper()}_SECONDS")
            if override is not None:
                self.delays[name] = float(override)
        self.throttle_rate = float(environ.get("RAGSTACK_EMULATOR_THROTTLE_RATE", "0"))
        self.error_rate = float(environ.get("RAGSTACK_EMULATOR_ERROR_RATE", "0"))
        self.seed = int(environ.get("RAGSTACK_EMULATOR_SEED", "1"))
        # Embedding models GetFoundationModel reports as not offered (comma-separated ids).
        self.unavailable_models = [m for m in environ.get("RAGSTACK_EMULATOR_UNAVAILABLE_MODELS", "").split(",") if m]
        # Model id -> NOT_AUTHORIZED | AGREEMENT_PENDING | NOT_ENTITLED (GetFoundationModelAvailability);
        # every other model is usable. RAGSTACK_EMULATOR_MODEL_ACCESS="id=STATUS,id=STATUS".
        self.model_access = {}
        for item in filter(None, environ.get("RAGSTACK_EMULATOR_MODEL_ACCESS", "").split(",")):
            model, _, status = item.partition("=")
            self.model_access[model] = status
        self._check_model_access()
        # Model id -> ACTIVE | LEGACY | EOL | EOL_GONE, over models.py's default (today's lifecycle).
        # RAGSTACK_EMULATOR_MODEL_LIFECYCLE="id=STATUS,id=STATUS".
        self.model_lifecycle = {}
        for item in filter(None, environ.get("RAGSTACK_EMULATOR_MODEL_LIFECYCLE", "").split(",")):
            model, _, status = item.partition("=")
            self.model_lifecycle[model] = status
        self._check_model_access()
        # Who STS says is calling: "moto" (moto's own user), "user:NAME", "role:/PATH/:NAME" (an
        # assumed-role session of a role with that path), "root", "federated:NAME".
        self.caller = environ.get("RAGSTACK_EMULATOR_CALLER", "moto")
        self._check_caller()
        # The container credentials endpoint (GET /_ragstack/container-credentials), off without a
        # token: the Authorization header it requires, and how long its credentials live.
        self.container_credentials_token = environ.get("RAGSTACK_EMULATOR_CONTAINER_CREDENTIALS_TOKEN", "")
        self.container_credentials_seconds = float(environ.get("RAGSTACK_EMULATOR_CONTAINER_CREDENTIALS_SECONDS", "900"))
        # Guardrails that exist ("id:version", comma-separated; DRAFT exists for each id listed).
        self.guardrails = [g for g in environ.get("RAGSTACK_EMULATOR_GUARDRAILS", "").split(",") if g]
        # API Gateway GetUsage: requests each API key has made today.
        self.usage_today = int(environ.get("RAGSTACK_EMULATOR_USAGE_TODAY", "0"))
        # The account's Lambda concurrency limit (AWS's default is 1000; new accounts may have 10).
        self.lambda_concurrency = int(environ.get("RAGSTACK_EMULATOR_LAMBDA_CONCURRENCY", "1000"))
        os.environ["MOTO_LAMBDA_CONCURRENCY_QUOTA"] = str(self.lambda_concurrency)
        # Validate every request against the service's API model (botocore), as AWS does.
        self.validate_requests = environ.get("RAGSTACK_EMULATOR_VALIDATE_REQUESTS", "1") != "0"
        # Authorize every request against the configured caller role's IAM policies (iam_auth.py).
        self.enforce_iam = environ.get("RAGSTACK_EMULATOR_ENFORCE_IAM", "0") == "1"

    def _check_model_access(self):
        for model, status in self.model_access.items():
            if status not in MODEL_ACCESS:
                raise ValueError(f"model_access[{model!r}] = {status!r}: allowed: {', '.join(MODEL_ACCESS)}")
        for model, status in getattr(self, "model_lifecycle", {}).items():
            if status not in MODEL_LIFECYCLES:
                raise ValueError(f"model_lifecycle[{model!r}] = {status!r}: allowed: {', '.join(MODEL_LIFECYCLES)}")

    def _check_caller(self):
        kind = self.caller.split(":", 1)[0]
        if kind not in CALLERS or (kind in ("user", "role", "federated") and ":" not in self.caller):
            raise ValueError(f"caller {self.caller!r}: allowed: moto, root, user:NAME, role:/PATH/:NAME, federated:NAME")

    def to_dict(self):
        return {
            "profile": self.profile,
            "delays": self.delays,
            "throttle_rate": self.throttle_rate,
            "error_rate": self.error_rate,
            "seed": self.seed,
            "unavailable_models": self.unavailable_models,
            "model_access": self.model_access,
            "model_lifecycle": self.model_lifecycle,
            "caller": self.caller,
            "validate_requests": self.validate_requests,
            "enforce_iam": self.enforce_iam,
            "guardrails": self.guardrails,
            "usage_today": self.usage_today,
            "lambda_concurrency": self.lambda_concurrency,
        }

    def update(self, changes):
        """Applies a JSON object of changes (the admin API's POST /_ragstack/config)."""
        for key in ("throttle_rate", "error_rate"):
            if key in changes:
                value = float(changes[key])
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"{key} must be between 0 and 1")
                setattr(self, key, value)
        if "seed" in changes:
            self.seed = int(changes["seed"])
        if "model_access" in changes:
            self.model_access = {str(k): str(v) for k, v in changes["model_access"].items()}
            self._check_model_access()
        if "model_lifecycle" in changes:
            self.model_lifecycle = {str(k): str(v) for k, v in changes["model_lifecycle"].items()}
            self._check_model_access()
        if "caller" in changes:
            self.caller = str(changes["caller"])
            self._check_caller()
        if "container_credentials_token" in changes:
            self.container_credentials_token = str(changes["container_credentials_token"])
        if "container_credentials_seconds" in changes:
            self.container_credentials_seconds = float(changes["container_credentials_seconds"])
        if "validate_requests" in changes:
            self.validate_requests = bool(changes["validate_requests"])
        if "enforce_iam" in changes:
            self.enforce_iam = bool(changes["enforce_iam"])
        if "unavailable_models" in changes:
            self.unavailable_models = [str(m) for m in changes["unavailable_models"]]
        if "guardrails" in changes:
            self.guardrails = [str(g) for g in changes["guardrails"]]
        if "usage_today" in changes:
            self.usage_today = int(changes["usage_today"])
        if "lambda_concurrency" in changes:
            self.lambda_concurrency = int(changes["lambda_concurrency"])
            os.environ["MOTO_LAMBDA_CONCURRENCY_QUOTA"] = str(self.lambda_concurrency)
        for name, value in changes.get("delays", {}).items():
            if name not in self.delays:
                raise ValueError(f"unknown delay {name!r}; known: {', '.join(self.delays)}")
            self.delays[name] = float(value)
