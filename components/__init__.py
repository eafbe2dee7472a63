"""Custom TFX components, one folder each."""


def __getattr__(name: str):
    # Kubeflow V2 needs custom artifact TYPE_NAMEs of the form "<module>.<Class>"
    # (exactly one dot) and imports the class from that name at run time.
    if name == "QuarantineReport":
        from components.image_example_gen.spec import QuarantineReport

        return QuarantineReport
    raise AttributeError(f"module 'components' has no attribute {name!r}")
