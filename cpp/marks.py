"""N_: marks a string for the gettext catalogue where it is defined, to be translated where it
is shown (failure reasons stored in English in the ledger, the sandbox card page's messages).
Pure, so the payment state machine can use it without Flask."""


def N_(text: str) -> str:  # noqa: N802 - gettext's own name for it
    return text
