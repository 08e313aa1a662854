"""A local AWS emulator for ragstack's end-to-end tests and benchmarks.

moto (server mode) serves IAM, STS, S3, Lambda, API Gateway, CloudFormation and CloudWatch Logs.
A WSGI layer in front of it (middleware.py) records every call, injects faults, and routes the
services moto lacks or gets wrong to ragstack's own implementations (aoss.py, s3vectors.py,
bedrock_agent.py, bedrock_runtime.py), which follow the AWS API models field for field and model
AWS's delays with lazily evaluated state machines.
"""
