"""Template cases for the Go differential fixtures: hand-written and grammar-generated."""

import random

SECRETS = {
    "DB_PASSWORD": "p@ss:w0rd!",
    "API_KEY": "sk_live_51HabcDEF987xyz",
    "API_URL": "https://api.internal.example.com/v1",
    "USERNAME": "admin",
    "PASSWORD": "quo\"te's & <tags>",
    "CLIENT_ID": "client-123",
    "CLIENT_SECRET": "s3cr3t/with+plus=eq",
    "GITHUB_TOKEN": "ghp_XYZ123456",
    "ADMIN_PASSWORD": "Zürich✓ 日本",
    "MULTI": "line one\nline two",
    "YAMLISH": "key: value",
    "EMPTY": "",
    "SPACES": "  padded  ",
    "NUM": "42",
    "TAB": "a\tb",
    "pem": "-----BEGIN KEY-----\nABC\n-----END KEY-----\n",
}
PRESENT = list(SECRETS)
MISSING = ["MISSING", "API_URL_V2", "SECRET_NAME", "db_password"]

HANDWRITTEN = [
    "API_KEY={{ .Secrets.API_KEY }}\n",
    "DATABASE_URL=postgresql://user:{{ .Secrets.DB_PASSWORD }}@localhost:5432/mydb\n",
    "AUTH_TOKEN={{ .Secrets.CLIENT_ID }}:{{ .Secrets.CLIENT_SECRET }}\n",
    "# Reference a secret directly\nAPI_KEY={{ .Secrets.API_KEY }}\n\n# Use secrets in connection strings\n"
    "DATABASE_URL=postgresql://user:{{ .Secrets.DB_PASSWORD }}@localhost:5432/mydb\n",
    "database:\n  host: db.example.com\n  password: {{.Secrets.DB_PASSWORD}}\n\napi:\n  credentials:\n"
    "    username: admin\n    password: {{.Secrets.ADMIN_PASSWORD}}\n\nconfig:\n"
    "  githubToken: {{.Secrets.GITHUB_TOKEN}}\n",
    "API_URL={{ if .Secrets.API_URL }}{{ .Secrets.API_URL }}{{ else }}https://api.example.com{{ end }}\n",
    "API_URL={{ if .Secrets.API_URL_V2 }}{{ .Secrets.API_URL_V2 }}{{ else }}https://api.example.com{{ end }}\n",
    "api:\n  url: {{ if .Secrets.API_URL }}{{ .Secrets.API_URL }}{{ else }}https://api.example.com{{ end }}\n",
    "CREDENTIALS={{ .Secrets.USERNAME }}:{{ .Secrets.PASSWORD }}\n",
    "A={{ .Secrets.SECRET_NAME }}\n",
    "X=1\nY=2\nZ={{ .Secrets.MISSING }}\n",
    "A={{ .Secrets.X }\n",
    "A={{ .Secrets.API_KEY }}}\n",
    "A={{ .Secrets.API_KEY \n",
    'password: {{ .Secrets.PASSWORD | printf "%q" }}\n',
    'password: {{ printf "%q" .Secrets.MULTI }}\n',
    "key: {{ .Secrets.YAMLISH | quote }}\n",
    "{{- /* a comment */ -}}\nA={{ .Secrets.API_KEY -}}\n  \nB={{- .Secrets.NUM }}\n",
    "{{/* unclosed comment }}",
    "{{ .Secrets.API_KEY | len }} {{ len .Secrets }}",
    '{{ index .Secrets "API_KEY" }}|{{ index .Secrets "NOPE" }}|',
    '{{ range $k, $v := .Secrets }}{{ $k }}={{ $v | printf "%q" }}\n{{ end }}',
    "{{ range .Secrets }}[{{ . }}]{{ else }}none{{ end }}",
    "{{ with .Secrets.API_URL }}url={{ . }}{{ else }}none{{ end }}",
    "{{ with .Secrets.NOPE }}url={{ . }}{{ else }}none{{ end }}",
    '{{ define "db" }}postgres://{{ .USERNAME }}:{{ .PASSWORD }}@db{{ end }}URL={{ template "db" .Secrets }}',
    '{{ block "x" .Secrets.API_KEY }}[{{ . }}]{{ end }}',
    '{{ template "nope" }}',
    '{{ $u := .Secrets.USERNAME }}{{ $u }}@{{ $u | printf "%s!" }}',
    "{{ $x := 1 }}{{ $x = 2 }}{{ $x }}",
    "{{ $y }}",
    "{{ if and .Secrets.API_KEY .Secrets.NUM }}both{{ end }}",
    "{{ if or .Secrets.MISSING .Secrets.NUM }}either{{ end }}",
    "{{ if not .Secrets.MISSING }}x{{ end }}",
    '{{ if eq .Secrets.NUM "42" }}forty-two{{ end }}',
    "{{ eq .Secrets.NUM 42 }}",
    '{{ lt 1 2 }} {{ le 2 2 }} {{ gt 1.5 1 }} {{ ge "b" "a" }} {{ ne 1 2 }}',
    "{{ html .Secrets.PASSWORD }} {{ js .Secrets.PASSWORD }} {{ urlquery .Secrets.CLIENT_SECRET }}",
    "{{ slice .Secrets.API_KEY 0 7 }}|{{ slice .Secrets.API_KEY 8 }}",
    '{{ print 1 2 "a" "b" 3 }}|{{ println 1 "a" }}|',
    '{{ printf "%5s|%-5s|%.2s|%05d|%x|%X|%o|%b|%c|%U|%#U|%e|%.3f|%g|%t|%v|%T" "ab" "cd" "xyz" 42 255 255 8 5 65 65 9731 1234.5678 3.14159 0.000001 true nil . }}',
    '{{ printf "%d" "str" }}|{{ printf "%s" 5 }}|{{ printf "%d %d" 1 }}|{{ printf "%d" 1 2 }}',
    '{{ printf "%v %+v %#v %T" .Secrets .Secrets .Secrets .Secrets }}',
    '{{ printf "%q %+q %#q %x % x %X" .Secrets.ADMIN_PASSWORD .Secrets.ADMIN_PASSWORD "raw" "hi" "hi" "hi" }}',
    '{{ printf "%08.3f|%+d|% d|%-8d|%8.3s|" 3.14159 5 5 5 "abcdef" }}',
    '{{ printf "%*d|%-*d|%.*f" 5 1 5 2 2 3.14159 }}',
    '{{ printf "%[2]d %[1]d" 1 2 }}',
    '{{ printf "%!" }}|{{ printf "%z" 1 }}|{{ printf "100%%" }}',
    "{{ .Secrets.API_KEY.Foo }}",
    "{{ .Foo }}",
    "{{ .secrets.API_KEY }}",
    "{{ nil }}",
    "{{ 1 2 }}",
    "{{ .Secrets.API_KEY 1 }}",
    "{{ foo }}",
    "{{ if }}{{ end }}",
    "{{ end }}",
    "{{ else }}",
    "{{ if true }}x",
    "{{ break }}",
    '{{ range .Secrets }}{{ break }}{{ end }}|{{ range $k, $v := .Secrets }}{{ if eq $k "NUM" }}{{ continue }}{{ end }}{{ $k }} {{ end }}',
    '{{ (printf "%s-%s" .Secrets.USERNAME .Secrets.NUM) }}',
    "{{ (.Secrets).API_KEY }}",
    "{{ $.Secrets.USERNAME }}",
    "{{ 'a' }} {{ '\\n' }} {{ 1_000 }} {{ 0b101 }} {{ 0o17 }} {{ 017 }} {{ 1e3 }} {{ 2.50 }} {{ 1+2i }} {{ -7 }}",
    "{{ 9223372036854775808 }}",
    "{{ 1.5.2 }}",
    '{{ "unterminated }}',
    "{{ `raw\nstring` }}",
    '{{ "a\\tb\\u00e9\\x41" }}',
    '{{ "bad\\q" }}',
    "{{ true | not }}",
    '{{ .Secrets.NUM | eq "42" }}',
    '{{ "x" | printf "%s-%s" "y" }}',
    "{{ . | len }}",
    "{{ index .Secrets 1 }}",
    "{{ index .Secrets.API_KEY 0 }} {{ index .Secrets.API_KEY 100 }}",
    "{{ len 3 }}",
    "{{ slice .Secrets.API_KEY 5 2 }}",
    "{{ and }}",
    '{{ and 1 0 2 }} {{ or 0 "" 3 }} {{ and 1 "x" }}',
    "{{ printf }}",
    "{{ html }}|{{ js }}|{{ urlquery }}",
    "{{ call .Secrets.API_KEY }}",
    "{{ eq .Secrets .Secrets }}",
    "{{ lt true false }}",
    "{{ eq 1 }}",
    "{{ with $x := .Secrets.NUM }}{{ $x }}{{ end }}",
    "{{ if $x := .Secrets.MISSING }}{{ $x }}{{ end }}",
    "{{ if .Secrets.MISSING | len }}{{ end }}",
    "{{ if .Secrets.EMPTY }}yes{{ else }}no{{ end }}",
    "{{ if .Secrets.MISSING }}a{{ else if .Secrets.NUM }}b{{ end }}",
    "{{ if .Secrets.MISSING }}a{{ else if .Secrets.API_URL_V2 }}b{{ else }}c{{ end }}",
    "{{ range $i, $c := .Secrets.API_KEY }}{{ end }}",
    "{{ range $a, $b, $c := .Secrets }}{{ end }}",
    "{{ .Secrets.API_KEY | .Secrets.NUM }}",
    '{{ "a" | "b" }}',
    "{{ ( }}",
    "{{ ) }}",
    "{{ .Secrets.API_KEY := 1 }}",
    "{{ $x := }}",
    "{{ :x }}",
    "{{ # }}",
    "{{ ☃ }}",
    '{{ define "a" }}A{{ end }}{{ define "a" }}B{{ end }}',
    "no actions at all\n",
    "",
    '{{- "trim" -}}   \n  after',
    "a {{- 1 -}} b {{ 2 -}}\n\n c",
    "{{-1}} {{- -1}}",
    "{{ /* no */ }}",
    "{{/* ok */}}x{{- /* trimmed */ -}}  y",
    "{{ .Secrets.MULTI }}\n",
    '{{ .Secrets.TAB | printf "%q" }} {{ .Secrets.TAB | js }}',
    '{{ printf "%v" (index .Secrets "API_KEY" | len) }}',
    '{{ printf "%.1f %.0f %g %g %g %v" 2.25 2.5 100000.0 1000000.0 0.0001 123456789.0 }}',
    '{{ printf "%6.2f|%-8.3e|%G|%E" 3.14159 1234.5 1e-7 12345.678 }}',
    '{{ printf "%x %X %o %O %b" -255 -255 -8 8 -5 }}',
    "{{ printf \"%q %c %U\" 'x' 'y' 'z' }}",
    '{{ printf "%s" nil }}|{{ printf "%v" nil }}|{{ print nil }}',
    '{{ printf "%5t|%-7v|" true false }}',
    '{{ printf "%d" .Secrets }}',
    '{{ printf "%s" . }}',
    '{{ js "\\u2028 é <b>" }}',
    '{{ urlquery "a b&c=d/é" }}',
    '{{ html "<a href=\'x\'>\\"&\\"</a>" }}',
    "{{ print .Secrets.NUM 1 }}|{{ print 1 .Secrets.NUM }}|{{ print 1 2 }}",
]


def handwritten_cases() -> list[dict[str, object]]:
    """Realistic env files and Helm values, plus every error the reference page shows."""
    return [
        {"name": "envFile" if i % 2 == 0 else "valuesYaml", "template": t, "secrets": SECRETS}
        for i, t in enumerate(HANDWRITTEN)
    ]


# An untyped nil handed to every builtin, directly, through a pipeline and as dot.
NIL_BUILTINS = [
    "{{ and nil 1 }}|{{ and 1 nil }}|{{ and nil }}|{{ and 0 nil }}",
    "{{ or nil 1 }}|{{ or nil nil }}|{{ or 0 nil }}|{{ or nil }}",
    "{{ 1 | and nil }}|{{ nil | and 1 }}",
    "{{ if and nil 1 }}x{{ else }}y{{ end }}|{{ with and nil 1 }}w{{ else }}n{{ end }}",
    "{{ range and nil }}r{{ else }}empty{{ end }}",
    "{{ $x := and nil }}{{ $x }}|{{ $y := or nil .Secrets.USERNAME }}{{ $y }}",
    "{{ eq nil nil }}|{{ eq nil 1 }}|{{ eq 1 nil }}|{{ eq .Secrets.API_KEY nil }}",
    "{{ eq .Secrets nil }}|{{ eq nil .Secrets }}|{{ or nil | eq nil }}",
    "{{ ne nil nil }}|{{ ne nil 1 }}|{{ not nil }}|{{ not (and nil) }}",
    "{{ eq nil }}",
    "{{ lt nil 1 }}",
    "{{ lt 1 nil }}",
    "{{ le nil nil }}",
    "{{ gt nil 1 }}",
    "{{ ge 1 nil }}",
    "{{ len nil }}",
    "{{ and nil | len }}",
    "{{ len (and nil) }}",
    "{{ index nil 1 }}",
    "{{ index nil }}",
    "{{ index .Secrets nil }}",
    "{{ index .Secrets.API_KEY nil }}",
    '{{ index .Secrets "API_KEY" nil }}',
    "{{ slice nil }}",
    "{{ slice nil 1 }}",
    "{{ slice .Secrets.API_KEY nil }}",
    "{{ slice .Secrets.API_KEY 1 nil }}",
    "{{ call nil }}",
    "{{ call nil 1 }}",
    "{{ call .Secrets.API_KEY nil }}",
    '{{ html nil }}|{{ html nil 1 }}|{{ html nil "a" nil }}|{{ and nil | html }}',
    "{{ js nil }}|{{ js nil nil }}|{{ js 1 nil 2 }}",
    '{{ urlquery nil }}|{{ urlquery nil "a" }}|{{ and nil | urlquery }}',
    "{{ print nil }}|{{ print nil nil 1 }}|{{ println nil }}|{{ and nil | print }}",
    '{{ printf "%v" nil }}|{{ and nil | printf "%v|%d" 1 }}',
    "{{ printf nil }}",
    "{{ nil | html }}",
    '{{ template "t" }}{{ define "t" }}{{ html . }}|{{ eq . nil }}|{{ and . 1 }}{{ end }}',
    '{{ template "t" }}{{ define "t" }}{{ len . }}{{ end }}',
]

# Template names holding "%": Go splices the name into its error format unescaped.
PERCENT_NAMES = ["a%d", "100%", "%s%v", "%!", "a%%b", "%q%x", "%", "%v", "%5d", "%[1]s", "%w"]
PERCENT_TEMPLATES = [
    "{{ .Secrets.NOPE }}",
    "X=1\n{{ .Secrets.NOPE }}",
    '{{ template "nope" }}',
    "{{ len 3 }}",
    "{{ .Secrets.API_KEY.B }}",
    "{{ nope }}",
    "{{ $x }}",
    "{{ if }}",
    '{{ "a" | 1 }}',
    "{{ index .Secrets 1 }}",
    "{{ and .Secrets.NOPE }}",
    "{{ range 1.5 }}{{ end }}",
    "{{ break }}",
    "ok {{ .Secrets.USERNAME }}",
]


def nil_and_name_cases() -> list[dict[str, object]]:
    """Untyped nil passed to builtins, and template names that carry printf verbs."""
    cases: list[dict[str, object]] = [
        {"name": "envFile", "template": t, "secrets": SECRETS} for t in NIL_BUILTINS
    ]
    cases += [
        {"name": name, "template": t, "secrets": SECRETS}
        for name in PERCENT_NAMES
        for t in PERCENT_TEMPLATES
    ]
    return cases


class _Gen:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def key(self) -> str:
        return self.rng.choice(PRESENT * 3 + MISSING)

    def string(self) -> str:
        return self.rng.choice(
            ['"a"', '"42"', '""', '"x y"', '"%s"', "`raw`", '"é"', '"NUM"', '"API_KEY"']
        )

    def number(self) -> str:
        return self.rng.choice(["0", "1", "2", "-3", "1.5", "1e2", "'a'", "0x10", "42", "3.0"])

    def operand(self, depth: int) -> str:
        r = self.rng.random()
        if r < 0.45:
            return f".Secrets.{self.key()}"
        if r < 0.55:
            return self.string()
        if r < 0.62:
            return self.number()
        if r < 0.66:
            return self.rng.choice(["true", "false", "."])
        if r < 0.70:
            return "$.Secrets." + self.key()
        if depth > 0 and r < 0.85:
            return "(" + self.pipeline(depth - 1) + ")"
        return f'(index .Secrets "{self.key()}")'

    def call(self, depth: int) -> str:
        fn = self.rng.choice(
            [
                "printf",
                "print",
                "len",
                "index",
                "slice",
                "eq",
                "ne",
                "lt",
                "le",
                "gt",
                "ge",
                "and",
                "or",
                "not",
                "html",
                "js",
                "urlquery",
                "println",
            ]
        )
        if fn == "printf":
            verbs = self.rng.choice(
                [
                    '"%s"',
                    '"%q"',
                    '"%v"',
                    '"%d"',
                    '"%5.2s|%-4v"',
                    '"%x"',
                    '"%T"',
                    '"%s:%s"',
                    '"[%6s]"',
                    '"%03d"',
                ]
            )
            count = self.rng.randint(0, 2)
            return " ".join(["printf", verbs] + [self.operand(depth) for _ in range(count)])
        if fn == "index":
            return f'index .Secrets "{self.key()}"'
        if fn == "slice":
            return f"slice .Secrets.{self.key()} {self.rng.randint(0, 3)} {self.rng.randint(2, 8)}"
        if fn in ("len", "not", "html", "js", "urlquery"):
            return f"{fn} {self.operand(depth)}"
        if fn in ("and", "or", "print", "println"):
            return " ".join([fn] + [self.operand(depth) for _ in range(self.rng.randint(1, 3))])
        return f"{fn} {self.operand(depth)} {self.operand(depth)}"

    def pipeline(self, depth: int) -> str:
        head = self.call(depth) if self.rng.random() < 0.5 else self.operand(depth)
        if self.rng.random() < 0.3:
            head += " | " + self.rng.choice(
                ['printf "%q"', "len", "html", 'printf "<%s>"', "urlquery", 'eq "42"', "js"]
            )
        return head

    def action(self, depth: int) -> str:
        lt, rt = self.rng.choice([("{{", "}}"), ("{{ ", " }}"), ("{{- ", " -}}"), ("{{ ", " -}}")])
        r = self.rng.random()
        if depth <= 0 or r < 0.55:
            return lt + self.pipeline(1) + rt
        if r < 0.7:
            cond = f".Secrets.{self.key()}" if self.rng.random() < 0.6 else self.pipeline(1)
            body = self.body(depth - 1)
            else_part = ""
            if self.rng.random() < 0.5:
                else_part = "{{ else }}" + self.body(depth - 1)
            elif self.rng.random() < 0.3:
                else_part = "{{ else if .Secrets." + self.key() + " }}" + self.body(depth - 1)
            return f"{{{{ if {cond} }}}}{body}{else_part}{{{{ end }}}}"
        if r < 0.8:
            cond = f".Secrets.{self.key()}" if self.rng.random() < 0.6 else self.pipeline(1)
            return f"{{{{ with {cond} }}}}[{{{{ . }}}}]{self.body(depth - 1)}{{{{ else }}}}none{{{{ end }}}}"
        if r < 0.9:
            decl = self.rng.choice(["", "$v := ", "$k, $v := "])
            body = (
                "{{ . }};"
                if not decl
                else ("{{ $v }};" if decl == "$v := " else "{{ $k }}={{ $v }};")
            )
            if self.rng.random() < 0.3:
                body += '{{ if eq . "42" }}{{ break }}{{ end }}'
            return f"{{{{ range {decl}.Secrets }}}}{body}{{{{ end }}}}"
        name = self.key()
        return f"{{{{ $x := .Secrets.{name} }}}}{{{{ $x }}}}"

    def body(self, depth: int) -> str:
        parts = []
        for _ in range(self.rng.randint(1, 3)):
            if self.rng.random() < 0.4:
                parts.append(
                    self.rng.choice(["KEY=", "\n", "  value: ", "x", " ", "\n- ", "# c\n", "é"])
                )
            else:
                parts.append(self.action(depth))
        return "".join(parts)

    def template(self) -> str:
        lines = []
        for i in range(self.rng.randint(1, 4)):
            lines.append(f"K{i}=" + self.body(2))
        return "\n".join(lines) + self.rng.choice(["", "\n"])

    def mutate(self, text: str) -> str:
        if not text:
            return "{{"
        pos = self.rng.randrange(len(text))
        op = self.rng.random()
        if op < 0.3:
            return text[:pos] + text[pos + 1 :]
        insert = self.rng.choice(
            [
                "}",
                "{{",
                ")",
                "(",
                '"',
                "|",
                "$",
                ":=",
                " end ",
                "{{ end }}",
                "{{ else }}",
                ".",
                ",",
                "-",
                "`",
                "'",
                "{{/*",
                "\n",
            ]
        )
        return text[:pos] + insert + text[pos:]


def generated_cases(rng: random.Random, count: int) -> list[dict[str, object]]:
    """Grammar-generated valid templates and mutated (mostly invalid) ones."""
    gen = _Gen(rng)
    cases = []
    for i in range(count):
        text = gen.template()
        if i % 3 == 2:
            text = gen.mutate(text)
        cases.append(
            {"name": "envFile" if i % 2 else "valuesYaml", "template": text, "secrets": SECRETS}
        )
    return cases


def printf_cases(rng: random.Random, count: int) -> list[dict[str, object]]:
    """printf with random flags, widths, precisions and verbs over every value kind."""
    values = [
        ".Secrets.API_KEY",
        ".Secrets.ADMIN_PASSWORD",
        ".Secrets.MULTI",
        '""',
        "42",
        "-7",
        "0",
        "3.25",
        "-0.5",
        "1e21",
        "1e-7",
        "true",
        "false",
        "nil",
        ".Secrets",
        ".",
        "'x'",
        "'日'",
        "(index .Secrets.API_KEY 1)",
        "(len .Secrets)",
        "2.0",
        "1+2i",
    ]
    cases = []
    for i in range(count):
        parts = []
        args = []
        for _ in range(rng.randint(1, 3)):
            flags = "".join(rng.sample(["-", "+", "#", " ", "0"], rng.randint(0, 2)))
            width = rng.choice(["", "", "3", "8", "*"])
            prec = rng.choice(["", "", ".0", ".2", ".5", ".*"])
            verb = rng.choice(list("vvsdqxXobcUeEfFgGtT%"))
            parts.append(f"%{flags}{width}{prec}{verb}")
            if width == "*":
                args.append(str(rng.choice([-4, 2, 6])))
            if prec == ".*":
                args.append(str(rng.choice([-1, 1, 3])))
            if verb != "%":
                args.append(rng.choice(values))
        if rng.random() < 0.1:
            args = args[:-1]
        elif rng.random() < 0.1:
            args.append(rng.choice(values))
        fmt = "|".join(parts)
        template = "{{ printf " + '"' + fmt + '" ' + " ".join(args) + " }}"
        cases.append(
            {"name": "envFile" if i % 2 else "valuesYaml", "template": template, "secrets": SECRETS}
        )
    return cases
