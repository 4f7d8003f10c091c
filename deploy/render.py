#!/usr/bin/env python3
"""Renders a shipped load balancer configuration for your nodes.

    python3 deploy/render.py haproxy --listen :9000 --server 10.0.0.1:9000 --server ... > haproxy.cfg
    python3 deploy/render.py nginx --listen 9000 --server 10.0.0.1:9000 --server ... > shoal.conf

The shipped files (deploy/haproxy/haproxy.cfg, deploy/nginx/shoal.conf) are valid as
they are; lines tagged `# shoal:listen` and `# shoal:server` are the only ones this
changes. The listen line gets the new address; the run of server lines is replaced by
one line per --server, shaped like the first tagged line (same options). Everything
else is copied unchanged. Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATES = {"haproxy": HERE / "haproxy" / "haproxy.cfg", "nginx": HERE / "nginx" / "shoal.conf"}
LISTEN_TAG = "# shoal:listen"
SERVER_TAG = "# shoal:server"
# HOST:PORT, [v6]:PORT, :PORT or PORT; nothing a configuration could read as syntax.
ADDRESS = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]*)?:?[0-9]{1,5}")


def address(text: str) -> str:
    if not ADDRESS.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return text


def split_tag(line: str, tag: str) -> tuple[str, list[str]]:
    """The line's indentation and its words before the tag."""
    body = line.split(tag, 1)[0].rstrip()
    indent = body[: len(body) - len(body.lstrip())]
    return indent, body.split()


def listen_line(kind: str, line: str, listen: str) -> str:
    indent, words = split_tag(line, LISTEN_TAG)
    end = ";" if kind == "nginx" else ""
    rest = words[2:] if kind == "haproxy" else [w.rstrip(";") for w in words[2:] if w != ";"]
    return f"{indent}{' '.join([words[0], listen, *rest])}{end}  {LISTEN_TAG}\n"


def server_lines(kind: str, model: str, servers: list[str]) -> list[str]:
    """One line per server, with the model line's options."""
    indent, words = split_tag(model, SERVER_TAG)
    if kind == "haproxy":  # server NAME ADDRESS OPTIONS...
        options = words[3:]
        made = [["server", f"node{i}", s, *options] for i, s in enumerate(servers, 1)]
        return [f"{indent}{' '.join(w)}  {SERVER_TAG}\n" for w in made]
    options = " ".join(words[2:]).rstrip(";").strip()  # server ADDRESS OPTIONS...;
    made = [" ".join(filter(None, ["server", s, options])) for s in servers]
    return [f"{indent}{w};  {SERVER_TAG}\n" for w in made]


def render(kind: str, template: str, listen: str, servers: list[str]) -> str:
    out: list[str] = []
    servers_done = False
    for line in template.splitlines(keepends=True):
        if LISTEN_TAG in line:
            out.append(listen_line(kind, line, listen))
        elif SERVER_TAG in line:
            if not servers_done:
                out.extend(server_lines(kind, line, servers))
                servers_done = True
        else:
            out.append(line)
    if not servers_done:
        raise SystemExit(f"render: no `{SERVER_TAG}` line in the template")
    return "".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=sorted(TEMPLATES))
    parser.add_argument("--listen", type=address, required=True,
                        help="where the balancer listens (haproxy: [HOST]:PORT, nginx: [HOST:]PORT)")
    parser.add_argument("--server", type=address, action="append", required=True,
                        help="a Shoal node's HOST:PORT; once per node")
    parser.add_argument("--template", type=Path, help="file to render (default: the shipped one)")
    args = parser.parse_args()
    template = (args.template or TEMPLATES[args.kind]).read_text()
    sys.stdout.write(render(args.kind, template, args.listen, args.server))


if __name__ == "__main__":
    main()
