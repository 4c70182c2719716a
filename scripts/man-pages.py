#!/usr/bin/env python3
"""Writes man pages for schedd and schedctl (one per verb) from the built binaries' own
description of their arguments (`--experimental-dump-help`), so that no second build is
needed. Usage: scripts/man-pages.py BIN_DIR OUT_DIR"""
import json
import subprocess
import sys
from datetime import date
from pathlib import Path


def esc(text):
    return (text or "").replace("\\", "\\\\").replace("-", "\\-").replace("\n.", "\n\\&.").replace("'", "\\'")


def names(arg):
    out = []
    for n in arg.get("names", []):
        out.append(("-" if n["kind"] == "short" else "--") + n["name"])
    return out


def synopsis(command_path, args):
    parts = []
    for a in args:
        if not a.get("shouldDisplay", True) or a["kind"] == "flag" and a.get("preferredName", {}).get("name") in ("help", "version"):
            continue
        if a["kind"] == "positional":
            word = "\\fI" + esc(a["valueName"]) + "\\fR" + ("..." if a.get("isRepeating") else "")
        elif a["kind"] == "flag":
            word = "\\fB" + esc(names(a)[-1]) + "\\fR"
        else:
            word = "\\fB" + esc(names(a)[-1]) + "\\fR \\fI" + esc(a.get("valueName", "value")) + "\\fR"
        parts.append(f"[{word}]" if a.get("isOptional") else word)
    return "\\fB" + esc(command_path) + "\\fR " + " ".join(parts)


def page(command, path, out, see_also):
    title = path.replace(" ", "-")
    args = command.get("arguments", [])
    lines = [f'.TH "{title.upper()}" 1 "{date.today().isoformat()}" "schedd" "schedd manual"',
             ".SH NAME", f"{esc(title)} \\- {esc(command.get('abstract', ''))}",
             ".SH SYNOPSIS", synopsis(path, args) + (" \\fIverb\\fR ..." if command.get("subcommands") else "")]
    if command.get("abstract") or command.get("discussion"):
        lines += [".SH DESCRIPTION", esc(command.get("abstract", ""))]
        if command.get("discussion"):
            lines += [".PP", esc(command["discussion"])]
    shown = [a for a in args if a.get("shouldDisplay", True)]
    if shown:
        lines.append(".SH OPTIONS")
        for a in shown:
            label = ", ".join("\\fB" + esc(n) + "\\fR" for n in names(a)) if a["kind"] != "positional" else "\\fI" + esc(a["valueName"]) + "\\fR"
            if a["kind"] == "option":
                label += " \\fI" + esc(a.get("valueName", "value")) + "\\fR"
            lines += [".TP", label, esc(a.get("abstract", ""))]
            if a.get("discussion"):
                lines += [".IP", esc(a["discussion"])]
    subs = [s for s in command.get("subcommands", []) if s.get("shouldDisplay", True) and s["commandName"] != "help"]
    if subs:
        lines.append(".SH VERBS")
        for s in subs:
            lines += [".TP", f"\\fB{esc(s['commandName'])}\\fR", esc(s.get("abstract", "")) + f" See \\fB{esc(title)}\\-{esc(s['commandName'])}\\fR(1)."]
    if see_also:
        lines += [".SH SEE ALSO", ", ".join(f"\\fB{esc(n)}\\fR(1)" for n in see_also)]
    (out / f"{title}.1").write_text("\n".join(lines) + "\n")
    for s in subs:
        page(s, f"{path} {s['commandName']}", out, [title])


def main():
    bin_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for program, other in (("schedd", "schedctl"), ("schedctl", "schedd")):
        dump = json.loads(subprocess.run([str(bin_dir / program), "--experimental-dump-help"],
                                         check=True, capture_output=True, text=True).stdout)
        page(dump["command"], program, out, [other])


main()
