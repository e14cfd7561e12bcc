#!/usr/bin/env python3
"""Writes render/html_report_page.h from render/html_report.html: the page
as two C strings, before and after its DATA line (tests/docs.sh checks the
header is current)."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def c_string(name, text):
    out = ["static const char %s[] =" % name]
    for line in text.splitlines(True):
        s = line.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        out.append('"%s"' % s)
    return "\n".join(out) + ";\n"


def main():
    page = open(os.path.join(HERE, "html_report.html"), encoding="utf-8").read()
    head, marker, tail = page.partition("<!-- DATA -->\n")
    if not marker:
        sys.exit("make-page.py: no DATA line in html_report.html")
    text = ("/* Generated from render/html_report.html by render/make-page.py: edit\n"
            " * the page there.  The report's data goes between the two. */\n"
            + c_string("html_report_head", head) + c_string("html_report_tail", tail))
    dest = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "html_report_page.h")
    with open(dest, "w", encoding="utf-8") as f:
        f.write(text)


main()
