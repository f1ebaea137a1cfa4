"""Signature vectors from twilio-python's own tests, and the no-callcenter-import rule."""

from __future__ import annotations

import ast
from pathlib import Path

from twilio_emulator.signing import json_body_url, signature

URI = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309",
          "To": "+18005551212", "Caller": "+14158675309"}


def test_twilio_python_vectors_byte_for_byte():
    assert signature("12345", URI, PARAMS.items()) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    dup = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert signature("12345", URI, dup) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    assert signature("12345", URI.replace(".com", ".com:1234").replace("https", "http"),
                     PARAMS.items()) == "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="
    assert signature("12345", URI.replace(".com", ".com:443"),
                     PARAMS.items()) == "kvajT1Ptam85bY51eRf/AJRuM3w="
    assert signature("12345", URI.replace("https", "http").replace(".com", ".com:80"),
                     PARAMS.items()) == "0ZXoZLH/DfblKGATFgpif+LLRf4="


def test_json_body_signing_vector():
    body = '{"property": "value", "boolean": true}'
    url = json_body_url(URI, body)
    digest = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    assert url.endswith("bodySHA256=" + digest)
    assert signature("12345", url) == "a9nBmqA0ju/hNViExpshrM61xv4="


def test_package_never_imports_callcenter():
    root = Path(__file__).resolve().parents[2] / "twilio_emulator"
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path}: {n}" for n in names if n.split(".")[0] == "callcenter"]
    assert offenders == []
