"""The exception tree of the protocol package."""


class ProtocolError(Exception):
    """Base of every error raised by the protocol package."""


class NikFormatError(ProtocolError, ValueError):
    """A NIK that does not follow the Dukcapil format.

    The message names the rule that failed and never contains the NIK itself.
    """

    def __init__(self, rule: str) -> None:
        super().__init__(f"NIK does not follow the Dukcapil format: {rule}")
        self.rule = rule
