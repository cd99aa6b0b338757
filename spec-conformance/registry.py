"""Check registry: @check("name", spec="file.md: the MUST", xfail={"runc": "why"})."""

CHECKS = []


class Check:
    def __init__(self, name, fn, spec, xfail, negative):
        self.name, self.fn, self.spec, self.xfail = name, fn, spec, xfail or {}
        self.negative = negative


def check(name, spec="", xfail=None, negative=False):
    """Registers a check. xfail maps a runtime kind ("runc", "crun", "crunner") to the
    reason that runtime is known to violate this MUST; its failure is then reported as
    XFAIL with that reason instead of FAIL. negative=True marks a check that only expects
    an error: it proves nothing against a runtime that fails everything, so it is reported
    as FAIL when the preflight check (a basic bundle runs) failed."""

    def deco(fn):
        if any(c.name == name for c in CHECKS):
            raise ValueError(f"duplicate check name {name}")
        CHECKS.append(Check(name, fn, spec, xfail, negative))
        return fn

    return deco
