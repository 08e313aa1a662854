"""An AWS error answer: HTTP status, AWS error code, message."""


class AwsError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def validation(message):
    return AwsError(400, "ValidationException", message)


def not_found(message):
    return AwsError(404, "ResourceNotFoundException", message)


def conflict(message):
    return AwsError(409, "ConflictException", message)
