"""ragstack query function (placeholder until the serving-path issue lands).

Configuration arrives through environment variables set by ragstack (KNOWLEDGE_BASE_ID,
GENERATION_MODEL_ARN), never pasted into this source.
"""
import json


def handler(event, context):
    return {
        "statusCode": 501,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"error": "the query function is not implemented in this version of ragstack"}),
    }
