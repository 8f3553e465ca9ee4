"""The Python-API child of the kill harness (`stress --harness kill --api python`).

Usage: python_child.py DIR SEED MODE START

Opens the database in DIR through `stratadb.Strata` with durability MODE and runs the
same seeded workload as the Rust child (`stress/src/workload.rs`, generator
`stress/src/rng.rs`), from operation number START, until it is killed. It speaks the
same protocol on stdout: `ready` once open, then `intent <op>` before and `ack <n>`
after every operation, each line flushed at once. The parent regenerates the workload
from SEED and checks that every intent is the operation the Rust generator gives, so
the two generators cannot drift apart unnoticed.
"""

import sys

MASK = (1 << 64) - 1


class Rng:
    """splitmix64, bit for bit the generator of stress/src/rng.rs."""

    def __init__(self, seed):
        self.state = seed & MASK

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, bound):
        return self.next_u64() % max(bound, 1)


def next_operation(rng, index):
    """Operation number `index`, as a tuple; the same draws as workload::next_operation."""
    value = index
    key = "k%d" % rng.below(64)
    roll = rng.below(100)
    if roll <= 44:
        return ("put", key, value)
    if roll <= 54:
        return ("delete", key)
    if roll <= 69:
        return ("transaction", value)
    if roll <= 84:
        return ("event", value)
    if roll <= 96:
        return ("document", "d%d" % rng.below(8), value)
    if roll == 97:
        return ("compact",)
    return ("flush",)


def render(operation):
    return " ".join(str(part) for part in operation)


def run(db, operation):
    kind = operation[0]
    if kind == "put":
        db.kv_put(operation[1], operation[2])
    elif kind == "delete":
        # As in the Rust child: put then delete inside one transaction, so that every
        # delete is one commit even when the key is missing.
        db.begin()
        db.kv_put(operation[1], None)
        db.kv_delete(operation[1])
        db.commit()
    elif kind == "transaction":
        db.begin()
        for key in ("tx:a", "tx:b", "tx:c"):
            db.kv_put(key, operation[1])
        db.commit()
    elif kind == "event":
        db.event_append("tick", operation[1])
    elif kind == "document":
        db.json_set(operation[1], "$.n", operation[2])
    elif kind == "compact":
        db.compact()
    elif kind == "flush":
        db.flush()
    else:
        raise ValueError("unknown operation %r" % (operation,))


def main(argv):
    if len(argv) != 5:
        sys.stderr.write("usage: python_child.py DIR SEED MODE START\n")
        return 2
    directory, seed, mode, start = argv[1], int(argv[2]), argv[3], int(argv[4])
    try:
        from stratadb import Strata
    except ImportError as error:
        sys.stderr.write("python child: cannot import stratadb (%s): run `make install` or pass --python\n" % error)
        return 1
    try:
        db = Strata.open(directory, durability=mode)
    except Exception as error:  # reported to the parent, which fails the cycle
        sys.stderr.write("python child: open failed: %s\n" % error)
        return 1
    rng = Rng(seed)
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    index = start
    while True:
        operation = next_operation(rng, index)
        out.write("intent %s\n" % render(operation))
        out.flush()
        try:
            run(db, operation)
        except Exception as error:
            sys.stderr.write("python child: operation %d failed: %s\n" % (index, error))
            return 1
        out.write("ack %d\n" % index)
        out.flush()
        index += 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
