"""The terminal's width rule: every line the tool prints fits WIDTH (100) columns unless --wide.

A message longer than that (a verdict, a note, an error on stderr) is wrapped at spaces with a
hanging indent: its first line starts at column 0, each continuation line with two spaces, and no
word is split (a single word longer than the line, a long path, stays whole). So a message is
still one logical line: its first line says what it is (`PASS:`, `MISMATCH:`, `error:`), and a
reader (a CI log, grep, a test) gets the message back whole by joining each line that starts
with a space to the one before it (logical_lines):

    MISMATCH: first divergence at step 1, scratch vs torch: layer 2, dZ2[2, 1]: scratch =
      -0.99, torch = -0.25, ...

Left out: tables (compare/views/tables.py fits their columns), source code (compare/views/
sidebyside.py wraps it at token boundaries).
"""
import textwrap

WIDTH = 100
HANG = "  "          # what starts each continuation line of a wrapped message


def hang(text, width=WIDTH, indent="", wide=False):
    """Each line of `text` wrapped to `width` columns at spaces, continuation lines indented by
    `indent` + two spaces; blank lines dropped. `wide`: the text as it is."""
    if wide:
        return text
    return "\n".join(textwrap.fill(line, width, initial_indent=indent,
                                   subsequent_indent=indent + HANG, break_on_hyphens=False,
                                   break_long_words=False)
                     for line in text.splitlines() if line.strip())


def logical_lines(text):
    """The messages of printed `text`, each continuation line (one starting with a space) joined
    to the line before it with one space: hang's inverse for a message whose words were separated
    by single spaces. An indented line with no line before it stays a line of its own."""
    out = []
    for line in text.splitlines():
        if line.startswith(" ") and out:
            out[-1] = f"{out[-1]} {line.strip()}" if line.strip() else out[-1]
        else:
            out.append(line)
    return out
