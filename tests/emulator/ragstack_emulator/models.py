"""The Bedrock models the emulator offers, with their lifecycle as Bedrock reports it.

Shapes follow botocore's `bedrock` model (FoundationModelDetails, FoundationModelSummary,
FoundationModelLifecycle, GetFoundationModelAvailabilityResponse, InferenceProfileSummary). Its
FoundationModelLifecycleStatus enum has only ACTIVE and LEGACY: a model past its end of life is
either still listed as LEGACY with an `endOfLifeTime` in the past, or gone, answering
ResourceNotFoundException "This model version has reached the end of its life." (the answer the
Bedrock User Guide's "Model lifecycle" page quotes for inference). The emulator can do both:

  ACTIVE    listed, usable
  LEGACY    listed as LEGACY with legacyTime and a future endOfLifeTime, usable
  EOL       listed as LEGACY with a past endOfLifeTime; inference and retrieval fail
  EOL_GONE  GetFoundationModel answers the end-of-life ResourceNotFoundException

GetFoundationModelAvailability for a model past its end of life is not documented. The emulator
models the conservative case for ragstack: it answers AUTHORIZED / AVAILABLE as before, so only
a check of the lifecycle can catch the model.

The default lifecycle is today's (2026-12-01) for the models the project names, from the model
cards in the Bedrock User Guide (src/catalog.toml records the same dates with their sources).
`model_lifecycle` in the settings overrides it per model id.
"""
import datetime

from .errors import AwsError
from .errors import not_found as _not_found
from .errors import validation as _validation

EMBEDDING_DIMENSIONS = {
    "amazon.titan-embed-text-v2:0": 1024,
    "amazon.titan-embed-text-v1": 1536,
    "cohere.embed-english-v3": 1024,
    "cohere.embed-multilingual-v3": 1024,
}

# id -> (provider, lifecycle in us-east-1 today, end of life ISO date or None, regions where it
# is still ACTIVE past that date, regions where it is LEGACY then, inference types)
GENERATION = {
    # Claude 3 Haiku: EOL 2026-09-10 in most regions; still offered in ca-central-1,
    # eu-central-2 and sa-east-1, Legacy in ap-northeast-2 (model card "Claude 3 Haiku").
    "anthropic.claude-3-haiku-20240307-v1:0": ("Anthropic", "EOL", "2026-09-10", ("ca-central-1", "eu-central-2", "sa-east-1"), ("ap-northeast-2",), ("ON_DEMAND", "INFERENCE_PROFILE")),
    # Claude 3.5 Haiku: EOL 2026-06-19 (model card).
    "anthropic.claude-3-5-haiku-20241022-v1:0": ("Anthropic", "EOL", "2026-06-19", (), (), ("INFERENCE_PROFILE",)),
    "anthropic.claude-3-5-sonnet-20240620-v1:0": ("Anthropic", "EOL", "2026-03-01", (), (), ("ON_DEMAND",)),
    # Claude Haiku 4.5: Active, through inference profiles only (model card).
    "anthropic.claude-haiku-4-5-20251001-v1:0": ("Anthropic", "ACTIVE", None, (), (), ("INFERENCE_PROFILE",)),
    "anthropic.claude-sonnet-4-5-20250929-v1:0": ("Anthropic", "ACTIVE", None, (), (), ("INFERENCE_PROFILE",)),
    "amazon.nova-micro-v1:0": ("Amazon", "ACTIVE", None, (), (), ("ON_DEMAND", "INFERENCE_PROFILE")),
    "amazon.nova-lite-v1:0": ("Amazon", "ACTIVE", None, (), (), ("ON_DEMAND", "INFERENCE_PROFILE")),
    "amazon.nova-pro-v1:0": ("Amazon", "ACTIVE", None, (), (), ("ON_DEMAND", "INFERENCE_PROFILE")),
    "amazon.nova-2-lite-v1:0": ("Amazon", "ACTIVE", None, (), (), ("INFERENCE_PROFILE",)),
}
GENERATION_MODELS = tuple(GENERATION)
LIFECYCLES = ("ACTIVE", "LEGACY", "EOL", "EOL_GONE")
EOL_MESSAGE = "This model version has reached the end of its life. Please refer to the AWS documentation for more details."

# System-defined cross-region inference profiles: prefix -> the regions they route to (Bedrock
# User Guide, "Supported Regions and models for inference profiles"). A global profile's models
# are listed with no region (`arn:aws:bedrock:::foundation-model/ID`, "Global cross-Region
# inference").
PROFILE_REGIONS = {
    "us": ("us-east-1", "us-east-2", "us-west-2"),
    "eu": ("eu-central-1", "eu-west-1", "eu-west-3"),
    "apac": ("ap-northeast-1", "ap-southeast-1", "ap-southeast-2"),
    "global": ("",),
}
# Which geography's profiles a source region may call.
PROFILE_SOURCE = {"us": "us-", "eu": "eu-", "apac": "ap-", "global": ""}


def known(model):
    return model in EMBEDDING_DIMENSIONS or model in GENERATION


def lifecycle(settings, model, region):
    """ACTIVE | LEGACY | EOL | EOL_GONE for a model in a region; the settings override."""
    if model in settings.model_lifecycle:
        return settings.model_lifecycle[model]
    if model not in GENERATION:
        return "ACTIVE"
    _, status, _, still_active, legacy, _ = GENERATION[model]
    if region in still_active:
        return "ACTIVE"
    if region in legacy:
        return "LEGACY"
    return status


def _iso_date(day):
    return f"{day}T00:00:00Z"


def _lifecycle_shape(status, model):
    """FoundationModelLifecycle as Bedrock answers it for a listed model."""
    eol = GENERATION.get(model, (None, None, None))[2]
    now = datetime.datetime.now(datetime.timezone.utc).date()
    if status == "ACTIVE":
        return {"status": "ACTIVE", "startOfLifeTime": "2024-03-07T00:00:00Z"}
    if status == "LEGACY":
        end = eol if eol and eol > now.isoformat() else (now + datetime.timedelta(days=120)).isoformat()
        return {"status": "LEGACY", "legacyTime": "2026-01-15T00:00:00Z", "endOfLifeTime": _iso_date(end)}
    end = eol or (now - datetime.timedelta(days=30)).isoformat()
    return {"status": "LEGACY", "legacyTime": "2025-12-01T00:00:00Z", "endOfLifeTime": _iso_date(end)}


def details(settings, model, region):
    """FoundationModelDetails (GetFoundationModel) or the error Bedrock answers."""
    if not known(model) or model in settings.unavailable_models:
        raise _validation("The provided model identifier is invalid.")
    status = lifecycle(settings, model, region)
    if status == "EOL_GONE":
        raise _not_found(EOL_MESSAGE)
    embedding = model in EMBEDDING_DIMENSIONS
    if embedding:
        provider = "Amazon" if model.startswith("amazon.") else "Cohere"
        types = ["ON_DEMAND"]
    else:
        provider, types = GENERATION[model][0], list(GENERATION[model][5])
    return {
        "modelArn": f"arn:aws:bedrock:{region}::foundation-model/{model}",
        "modelId": model,
        "modelName": model,
        "providerName": provider,
        "inputModalities": ["TEXT"],
        "outputModalities": ["EMBEDDING" if embedding else "TEXT"],
        "responseStreamingSupported": not embedding,
        "customizationsSupported": [],
        "inferenceTypesSupported": types,
        "modelLifecycle": _lifecycle_shape(status, model),
    }


def summaries(settings, region, query):
    """ListFoundationModels: every listed model, filtered by byProvider / byOutputModality /
    byInferenceType as the API model's query parameters say (EOL_GONE models are not listed)."""
    out = []
    for model in list(EMBEDDING_DIMENSIONS) + list(GENERATION):
        if model in settings.unavailable_models:
            continue
        try:
            d = details(settings, model, region)
        except AwsError:
            continue
        if "byProvider" in query and query["byProvider"][0].lower() != d["providerName"].lower():
            continue
        if "byOutputModality" in query and query["byOutputModality"][0] not in d["outputModalities"]:
            continue
        if "byInferenceType" in query and query["byInferenceType"][0] not in d["inferenceTypesSupported"]:
            continue
        out.append(d)
    return out


def profile(model_profile, region, account):
    """InferenceProfileSummary of a system-defined profile callable from `region`, or None."""
    prefix, _, model = model_profile.partition(".")
    if prefix not in PROFILE_REGIONS or model not in GENERATION or "INFERENCE_PROFILE" not in GENERATION[model][5]:
        return None
    if not region.startswith(PROFILE_SOURCE[prefix]):
        return None
    return {
        "inferenceProfileName": f"{prefix.upper()} {model}",
        "inferenceProfileArn": f"arn:aws:bedrock:{region}:{account}:inference-profile/{model_profile}",
        "inferenceProfileId": model_profile,
        "models": [{"modelArn": f"arn:aws:bedrock:{r}::foundation-model/{model}"} for r in PROFILE_REGIONS[prefix]],
        "status": "ACTIVE",
        "type": "SYSTEM_DEFINED",
    }


def profiles(region, account):
    """ListInferenceProfiles (typeEquals SYSTEM_DEFINED): those callable from the region."""
    out = []
    for prefix in PROFILE_REGIONS:
        for model in GENERATION:
            p = profile(f"{prefix}.{model}", region, account)
            if p:
                out.append(p)
    return out


def invocable(settings, model, region):
    """Raises what Bedrock answers when a model cannot be invoked (InvokeModel, Converse,
    RetrieveAndGenerate's generation): past its end of life ResourceNotFoundException with the
    end-of-life message; without model access, the ValidationException "You don't have access to
    the model with the specified model ID." (docs/ARCHITECTURE.md cites the report)."""
    if lifecycle(settings, model, region) in ("EOL", "EOL_GONE"):
        raise _not_found(EOL_MESSAGE)
    if settings.model_access.get(model, "AUTHORIZED") != "AUTHORIZED":
        raise AwsError(400, "ValidationException", "You don't have access to the model with the specified model ID.")
