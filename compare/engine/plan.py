"""Who is compared with whom in a lockstep run: the runners to build and the pairs to judge.

Every *subject* (scratch in a recipe run; a user's code in `compare check`) against every
*reference* (torch, keras; and scratch in `check`), the subject following the reference's
conventions where it can (scratch in Keras's is the runner 'scratch@keras'); subjects against each
other (a user's torch model vs their Keras port); and, in a recipe run, the references against
each other (torch~keras), judged by the same tolerance only where no convention differs for the
spec, otherwise reported with the reasons.

A reference that cannot express the spec's training rules (conventions.unavailable: Lion in
torch, SGD dampening in Keras, decoupled weight decay in torch's SGD, coupled in Keras's) is not
built (`not_built`): the report shows why, and the other pairs are judged as usual.

Pair keys: the reference's name for scratch's pairs ('torch', 'keras'), else 'ours~theirs'. Two
implementations never share a key (registry.RESERVED; `plan` refuses a collision), and a pair whose
two sides are one implementation, or a check in which no reference ran, is never judged (`unjudge`).

Left out: running and judging the steps (compare/engine/harness.py).
"""
from dataclasses import dataclass, field
from itertools import combinations

from . import registry
from .conventions import ConventionPair, differences, is_convention, numeric_differences, settings_differences, unavailable
from .errors import InputError

CROSS = "torch~keras"


@dataclass
class Runner:
    key: str                  # 'scratch', 'scratch@keras', 'torch', 'mine', ...
    entry: registry.Entry
    convention: str           # the conventions it follows in this run
    spec: object              # the spec it was built from (a user's own settings applied)
    implementation: object = None


@dataclass
class Pair:
    key: str                  # 'torch', 'keras', 'torch~keras', 'mine~torch', ...
    ours: str                 # runner keys
    theirs: str
    judged: bool = True       # held to the tolerance (else reported only)
    reasons: dict = field(default_factory=dict)   # convention differences that apply: key -> why
    kind: str = "subject"     # 'subject' (a subject vs a reference), 'subjects' (two subjects), 'cross' (two references)


def pair_key(ours, theirs):
    return theirs if ours == "scratch" else f"{ours}~{theirs}"


def plan(spec, subjects, references, cross=True, subjects_are_references=False):
    """The runners to build and the pairs to compare. subjects, references: registry Entries.
    subjects_are_references: the subjects are references themselves (a translation's proof: torch's
    and Keras's own code, each with its settings), so their pair needs no other. -> (runners {key: Runner}, [Pair])"""
    runners, pairs = {}, []

    def add(entry, convention, run_spec, owner):
        conv = convention if convention in entry.conventions else entry.conventions[0]
        key = entry.name if conv == entry.conventions[0] else f"{entry.name}@{conv}"
        if key in runners and runners[key].entry is entry and runners[key].spec != run_spec:
            key = f"{key}/{owner}"                         # the same reference with another subject's settings
        if key in runners and runners[key].entry is not entry:   # two implementations, one key: never
            raise InputError(f"two implementations would both run as {key!r}: name each with letters, digits, "
                             f"'-' and '_' (not {', '.join(map(repr, registry.RESERVED))}), and not as a built-in")
        runners.setdefault(key, Runner(key, entry, conv, run_spec))
        return key

    for subject in subjects:
        run_spec = spec.replace(**subject.settings) if subject.settings else spec
        for reference in references:
            own = subject.conventions[0]
            convention = own if own in reference.conventions else reference.conventions[0]
            ours = add(subject, convention, run_spec, subject.name)
            theirs = add(reference, convention, run_spec, subject.name)
            if is_convention(own) and is_convention(convention) and convention not in subject.conventions:
                conventions = ConventionPair(own, convention)      # a user's torch model against Keras (or
                reasons = differences(run_spec, conventions)       # JAX, ...): judged as torch~keras is
                pairs.append(Pair(pair_key(subject.name, reference.name), ours, theirs,
                                  not numeric_differences(run_spec, conventions), reasons))
                continue
            pairs.append(Pair(pair_key(subject.name, reference.name), ours, theirs))
    for a, b in combinations(subjects, 2):
        ours = add(a, a.conventions[0], spec.replace(**a.settings) if a.settings else spec, a.name)
        theirs = add(b, b.conventions[0], spec.replace(**b.settings) if b.settings else spec, b.name)
        reasons = settings_differences(runners[ours].spec, runners[ours].convention,
                                       runners[theirs].spec, runners[theirs].convention)
        pairs.append(Pair(f"{a.name}~{b.name}", ours, theirs, True, reasons, "subjects"))
    plain = [r for r in references if r.name != "scratch"]
    if cross and not any(s.settings for s in subjects):
        for a, b in combinations(plain, 2):
            ours, theirs = add(a, a.conventions[0], spec, a.name), add(b, b.conventions[0], spec, b.name)
            conventions = ConventionPair(a.conventions[0], b.conventions[0]) \
                if is_convention(a.conventions[0]) and is_convention(b.conventions[0]) else None
            reasons = differences(spec, conventions) if conventions else differences(spec)
            numeric = numeric_differences(spec, conventions) if conventions else numeric_differences(spec)
            if spec.resync_each_step and subjects:
                reasons["resync"] = numeric["resync"] = (
                    f"each step restarts {a.name} and {b.name} from their scratch twin's state, two runs that "
                    f"drift apart in float32: {a.name} vs {b.name} measures that drift")
            pairs.append(Pair(f"{a.name}~{b.name}", ours, theirs, not numeric, reasons, "cross"))
    if not runners and len(subjects) + len(references) == 1:
        only = (subjects or references)[0]
        runners[only.name] = Runner(only.name, only, only.conventions[0], spec)
    for pair in pairs:
        unjudge(pair, runners, no_reference=bool(subjects) and not references and not subjects_are_references)
    return runners, pairs


def unjudge(pair, runners, no_reference=False, same_object=False):
    """The root rule of judging: a pair whose two sides are one runner, one implementation entry or
    one built object compares something with itself, and a check in which no reference ran has
    nothing to vouch for it: such a pair is reported, never judged (so never a PASS)."""
    ours, theirs = runners[pair.ours], runners[pair.theirs]
    if pair.ours == pair.theirs or ours.entry is theirs.entry or same_object:
        pair.judged = False
        pair.reasons["same-implementation"] = (f"{pair.ours} and {pair.theirs} are one implementation: a comparison "
                                               f"with itself proves nothing")
    if no_reference:
        pair.judged = False
        pair.reasons["no-reference"] = "no reference framework ran: two of your implementations alone vouch for nothing"


def not_built(spec, subjects, references, cross=True):
    """The references that cannot express the spec's training rules, left out of the run.
    -> (the references that can, {framework: why not}, {pair key: why not run})"""
    missing = unavailable(spec)                            # a rule a framework cannot express: not built
    not_run = {}
    for reference in references:
        if reference.name in missing:
            not_run.update({pair_key(s.name, reference.name): missing[reference.name] for s in subjects})
    plain = [r for r in references if r.name != "scratch"]
    if cross and not any(s.settings for s in subjects):
        for a, b in combinations(plain, 2):
            if a.name in missing or b.name in missing:
                not_run[f"{a.name}~{b.name}"] = missing.get(a.name) or missing[b.name]
    unavailable_here = {r.name: missing[r.name] for r in references if r.name in missing}
    return [r for r in references if r.name not in missing], unavailable_here, not_run
