#!/usr/bin/env python3
"""Removes each verification rule of docs/design.md §2 from the verifier, one at a time, and checks that the test suite
notices: every mutant must make at least one test fail. Slow (one incremental build per rule, ~15 min in all), so it
is a developer tool, not part of CI: `python3 scripts/verifier-mutations.py [RULE-SUBSTRING …]`. Restores every
file after each mutant."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORE = ROOT / "Sources/AuthStackCore"
V, H, C = "Tokens/AccessTokenVerifier.swift", "Tokens/AccessTokenVerifier+Header.swift", "Tokens/AccessTokenVerifier+Claims.swift"
P, B = "Encoding/StrictJSON+Parser.swift", "Encoding/Base64URL.swift"

# (rule, file, original text, text without the rule)
MUTANTS = [
    ("length ≤ 8 KiB", V, "guard token.count <= policy.maximumLength else", "guard true else"),
    ("exactly three segments", V, "guard memchr(base + second + 1, Int32(UInt8(ascii: \".\")), token.count - second - 1) == nil else", "guard true else"),
    ("canonical base64url (unused bits zero)", B, "invalid |= group | (group & unusedBits == 0 ? 0 : invalidMark)", "invalid |= group"),
    ("alg exactly HS256", H, "alg.matches(HeaderLiteral.hs256)", "true"),
    ("typ at+jwt", H, "isAccessTokenType(typ, in: json) else", "true else"),
    ("no crit", H, "guard !fields.hasCritical else", "guard true else"),
    ("b64 must be true", H, "guard case .bool(true) = b64 else", "guard true else"),
    ("kid names a held key", H, "guard let index else { throw .unknownKeyID }\n        return index", "return index ?? 0"),
    ("MAC matches", V, "guard valid else", "guard true else"),
    ("no duplicate members", P, "for position in base..<nameCount where", "for position in base..<base where"),
    ("valid UTF-8", P, "if hasNonASCII, !UTF8Validation.isValid(raw) { throw .invalidUnicode }", ""),
    ("nesting depth (objects)", P, "guard depth <= StrictJSON.maximumDepth else { throw .tooDeep }\n            try expect(UInt8(ascii: \"{\"))", "try expect(UInt8(ascii: \"{\"))"),
    ("exp required", C, "guard let expiresAt = try numericDate(fields.exp, \"exp\") else { throw .missingClaim(\"exp\") }", "let expiresAt = try numericDate(fields.exp, \"exp\") ?? .infinity"),
    ("iss required", C, "guard let issuer = try string(fields.iss, \"iss\", in: json) else { throw .missingClaim(\"iss\") }", "let issuer = try string(fields.iss, \"iss\", in: json) ?? \"authstack\""),
    ("sub non-empty", C, "guard !subject.isEmpty else", "guard true else"),
    ("NumericDate finite", C, "seconds.isFinite, abs(seconds) < numericDateLimit", "abs(seconds) < numericDateLimit || seconds.isInfinite"),
    ("NumericDate |v| < 2^53", C, "abs(seconds) < numericDateLimit", "true"),
    ("iss equals issuer", V, "guard claims.issuer == policy.issuer else", "guard true else"),
    ("aud contains audience", V, "guard claims.audience.contains(policy.audience) else", "guard true else"),
    ("iat not in the future", V, "guard claims.issuedAt <= now + policy.leeway else", "guard true else"),
    ("iat leeway boundary", V, "guard claims.issuedAt <= now + policy.leeway else", "guard claims.issuedAt <= now + policy.leeway + 1 else"),
    ("nbf not in the future", V, "if let notBefore = claims.notBefore, notBefore > now + policy.leeway", "if let notBefore = claims.notBefore, false"),
    ("exp enforced", V, "guard now < claims.expiresAt + policy.leeway else", "guard true else"),
    ("exp leeway boundary", V, "guard now < claims.expiresAt + policy.leeway else", "guard now <= claims.expiresAt + policy.leeway else"),
    ("exp reported last", V, "guard now < claims.expiresAt + policy.leeway else { throw .expired }\n", ""),
]


def run(*command):
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


def main():
    # Optional arguments select rules by substring, e.g. `scripts/verifier-mutations.py kid segments`.
    selected = [m for m in MUTANTS if not sys.argv[1:] or any(word in m[0] for word in sys.argv[1:])]
    survivors = []
    for rule, name, original, mutated in selected:
        path = CORE / name
        source = path.read_text()
        if source.count(original) < 1:
            print(f"?? {rule}: pattern not found in {name}")
            survivors.append(rule)
            continue
        try:
            path.write_text(source.replace(original, mutated, 1))
            if rule == "exp reported last":
                # Move the exp check first instead of deleting it.
                text = path.read_text().replace(
                    "        guard claims.issuer == policy.issuer else",
                    "        guard now < claims.expiresAt + policy.leeway else { throw .expired }\n        guard claims.issuer == policy.issuer else", 1)
                path.write_text(text)
            build = run("swift", "build", "--build-tests")
            if build.returncode != 0:
                print(f"!! {rule}: mutant does not compile\n{build.stderr[-2000:]}")
                survivors.append(rule)
                continue
            tests = run("swift", "test", "--skip-build", "--filter", "AuthStackCoreTests")
            caught = tests.returncode != 0
            print(("caught   " if caught else "SURVIVED ") + rule, flush=True)
            if not caught:
                survivors.append(rule)
        finally:
            path.write_text(source)
    run("swift", "build", "--build-tests")
    print(f"{len(selected) - len(survivors)} caught, {len(survivors)} survived")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
