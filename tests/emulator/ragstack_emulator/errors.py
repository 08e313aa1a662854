"""An AWS error answer: HTTP status, AWS error code, message."""


class AwsError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
