#!/usr/bin/env python3
"""Regenerates Tests/SchedulerAPITests/Fixtures/cron-fixtures.json.

For a corpus of (expression, zone, start) cases it computes the next fire times by docs/schedules.md's
rules with an independent, deliberately simple implementation (day by day, every matching wall
time, Python's zoneinfo for the time zone), then asks two external oracles, croniter (PyPI) and
`systemd-analyze calendar`, for the same times. The fixture holds schedd's answer (docs/schedules.md); where an
oracle differs, the case records the oracle's answer and why it differs. A difference that is not
explained by a known rule of that oracle stops the script: either our reading of docs/schedules.md or the
oracle is wrong, and a person must look.

    pip install croniter        # systemd-analyze comes with systemd
    python3 scripts/cron-fixtures.py

The Swift tests read the committed fixture; CI needs neither Python nor the oracles.
"""
import calendar
import datetime as dt
import json
import os
import subprocess
import sys
from zoneinfo import ZoneInfo

try:
    from croniter import croniter
except ImportError:
    sys.exit("croniter is missing: pip install croniter")

UTC = dt.timezone.utc
COUNT = 6
OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "SchedulerAPITests", "Fixtures", "cron-fixtures.json")

# ---------------------------------------------------------------------------------------------
# docs/schedules.md's reading of cron, written independently of the Swift code.

MONTHS = {n: i + 1 for i, n in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
DAYS = {n: i for i, n in enumerate("sun mon tue wed thu fri sat".split())}
MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
          "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}


def weekday(token):
    return int(token) % 7 if token.isdigit() else DAYS[token.lower()]


def parse_field(text, lo, hi, names=None, dow=False, special=None):
    out = set()
    for item in text.split(","):
        if special is not None and special(item):
            continue
        base, _, step = item.partition("/")
        step = int(step) if step else 1
        if base == "*":
            a, b = lo, (6 if dow else hi)
        elif "-" in base:
            a, b = (int(names.get(x.lower(), x)) if names else int(x) for x in base.split("-"))
            if dow and b == 0 and a > 0:
                b = 7
        else:
            a = int(names.get(base.lower(), base)) if names else int(base)
            b = (6 if dow else hi) if "/" in item else a
        out.update(range(a, b + 1, step))
    if dow and 7 in out:
        out.discard(7)
        out.add(0)
    return out


def parse(expr):
    expr = MACROS.get(expr.lower(), expr)
    parts = expr.split()
    if len(parts) == 5:
        parts = ["0"] + parts
    s, m, h, dom, mon, dow = parts
    dom = "*" if dom == "?" else dom
    dow = "*" if dow == "?" else dow
    last_days, nth, last_weekdays = set(), set(), set()

    def dom_special(item):  # L, L-k: k days before the month's last
        if not item.upper().startswith("L"):
            return False
        last_days.add(int(item[2:]) if len(item) > 1 else 0)
        return True

    def dow_special(item):  # MON#2: the second Monday; 5L, FRIL, L5: the last Friday
        if "#" in item:
            day, n = item.split("#")
            nth.add((weekday(day), int(n)))
            return True
        if len(item) > 1 and item.upper().endswith("L"):
            last_weekdays.add(weekday(item[:-1]))
            return True
        if len(item) > 1 and item.upper().startswith("L"):
            last_weekdays.add(weekday(item[1:]))
            return True
        return False

    return dict(
        sec=sorted(parse_field(s, 0, 59)), min=sorted(parse_field(m, 0, 59)), hour=sorted(parse_field(h, 0, 23)),
        dom=parse_field(dom, 1, 31, special=dom_special), mon=parse_field(mon, 1, 12, MONTHS),
        dow=parse_field(dow, 0, 7, DAYS, True, special=dow_special),
        last_days=last_days, nth=nth, last_weekdays=last_weekdays,
        dom_star=dom.startswith("*"), dow_star=dow.startswith("*"),
        fixed=not m.startswith("*") and not h.startswith("*"))


def day_matches(c, day):
    if day.month not in c["mon"]:
        return False
    month_days = calendar.monthrange(day.year, day.month)[1]
    d = day.day in c["dom"] or (month_days - day.day) in c["last_days"]
    wd = day.isoweekday() % 7
    w = (wd in c["dow"] or (wd, (day.day - 1) // 7 + 1) in c["nth"]
         or (wd in c["last_weekdays"] and day.day + 7 > month_days))
    return (d and w) if (c["dom_star"] or c["dow_star"]) else (d or w)


def offset(z, instant):
    return instant.astimezone(z).utcoffset()


def resolve(wall, z, fixed):
    """The instants at which `wall` fires under docs/schedules.md's DST rule."""
    a = wall.replace(tzinfo=z, fold=0).astimezone(UTC)
    b = wall.replace(tzinfo=z, fold=1).astimezone(UTC)
    real = sorted({u for u in (a, b) if u.astimezone(z).replace(tzinfo=None) == wall})
    if real:
        return real[:1] if fixed else real
    if not fixed:
        return []  # a wildcard schedule never fires a time that does not exist
    # Skipped by a jump forward: fire once, at the jump. fold=1 gives an instant before it.
    lo, hi = min(a, b), max(a, b)
    after = offset(z, hi)
    while (hi - lo).total_seconds() > 1:
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if offset(z, mid) == after:
            hi = mid
        else:
            lo = mid
    return [hi]


def spec_fires(expr, zone, start, count=COUNT):
    c = parse(expr)
    z = ZoneInfo(zone)
    day = (start.astimezone(z) - dt.timedelta(days=2)).date()
    found = set()
    for _ in range(366 * 30):
        if day_matches(c, day):
            for h in c["hour"]:
                for m in c["min"]:
                    for s in c["sec"]:
                        for u in resolve(dt.datetime.combine(day, dt.time(h, m, s)), z, c["fixed"]):
                            if u > start:
                                found.add(u)
        # A day's instants never fall after the next day's, so stop two days past `count`.
        if len(found) >= count and day > max(sorted(found)[:count]).astimezone(z).date() + dt.timedelta(days=1):
            break
        day += dt.timedelta(days=1)
    return sorted(found)[:count]


# ---------------------------------------------------------------------------------------------
# The oracles.

def croniter_form(expr):
    """croniter writes the last Friday L5 (schedd takes 5L and FRIL too) and has no L-k: None for it."""
    parts = MACROS.get(expr.lower(), expr).split()
    dom, dow = parts[-3], parts[-1]
    if any(item.upper().startswith("L-") for item in dom.split(",")):
        return None
    parts[-1] = ",".join(f"L{weekday(item[:-1])}" if len(item) > 1 and item.upper().endswith("L") else item
                         for item in dow.split(","))
    return " ".join(parts)


def croniter_fires(expr, zone, start, count=COUNT):
    form = croniter_form(expr)
    if form is None:
        return None
    it = croniter(form, start.astimezone(ZoneInfo(zone)),
                  second_at_beginning=len(expr.split()) == 6)
    return [it.get_next(dt.datetime).astimezone(UTC) for _ in range(count)]


def systemd_spec(expr, zone):
    """The OnCalendar= form of a cron expression, or None where systemd's meaning differs."""
    parts = MACROS.get(expr.lower(), expr).split()
    if len(parts) == 5:
        parts = ["0"] + parts
    s, m, h, dom, mon, dow = parts
    if any(ch in dom + dow for ch in "?#Ll"):
        return None  # systemd's ~ (from the month's end) counts differently; no n-th weekday
    if not dom.startswith("*") and not dow.startswith("*"):
        return None  # systemd requires both day fields; Vixie cron accepts either

    def conv(f, first):
        if f == "*":
            return "*"
        out = []
        for item in f.split(","):
            base, _, step = item.partition("/")
            if base == "*":
                base = str(first)
            if "-" in base and step:
                return None
            base = base.replace("-", "..")
            if not all(ch.isdigit() or ch == "." for ch in base):
                return None
            out.append(base + ("/" + step if step else ""))
        return ",".join(out)

    fields = [conv(s, 0), conv(m, 0), conv(h, 0), conv(dom, 1), conv(mon, 1)]
    if None in fields:
        return None
    names = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    days = ""
    if dow != "*":
        try:
            days = ",".join(names[x] for x in sorted(parse_field(dow, 0, 7, DAYS, True))) + " "
        except (ValueError, IndexError):
            return None
    s, m, h, dom, mon = fields
    return f"{days}*-{mon}-{dom} {h}:{m}:{s} {zone}"


def systemd_fires(expr, zone, start, count=COUNT):
    spec = systemd_spec(expr, zone)
    if spec is None:
        return None
    base = int(start.timestamp())
    out = subprocess.run(["systemd-analyze", "calendar", f"--iterations={count}", f"--base-time=@{base}", spec],
                         capture_output=True, text=True, env={**os.environ, "TZ": "UTC"})
    if out.returncode != 0:
        return None
    fires = []
    for line in out.stdout.splitlines():
        line = line.strip()
        if line.startswith("Next elapse:") or line.startswith("Iter. #"):
            text = line.split(":", 1)[1].strip()  # "Mon 2026-03-09 06:30:00 UTC"
            fires.append(dt.datetime.strptime(text[4:23], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC))
    return fires


def near_transition(zone, instant):
    """Whether the zone's offset changes within 2 hours of `instant`."""
    z = ZoneInfo(zone)
    return any(offset(z, instant + dt.timedelta(minutes=k)) != offset(z, instant + dt.timedelta(minutes=k + 30))
               for k in range(-150, 150, 30))


def explain(oracle, expr, zone, spec, other):
    """Why an oracle's answer differs, when it is a known and accepted difference; else None."""
    fixed = parse(expr)["fixed"]
    # Away from the transition both must list the same times (over the span both cover).
    cutoff = min(max(spec), max(other))
    away = lambda times: {u for u in times if u <= cutoff and not near_transition(zone, u)}
    if away(spec) != away(other):
        return None
    near = lambda times: {u for u in times if near_transition(zone, u)}
    extra, missing = near(other) - set(spec), near(spec) - set(other)
    reasons = []
    if fixed and extra:
        reasons.append(f"{oracle} fires a fixed time of the repeated hour in both passes or moves it; schedd runs it once, in the first pass")
    if fixed and missing:
        reasons.append(f"{oracle} does not run a fixed time skipped by the jump forward (or runs it elsewhere); schedd runs it once, at the jump")
    if not fixed and extra:
        reasons.append(f"{oracle} fires a wildcard time that the jump forward skipped; schedd fires only wall-clock times that exist")
    if not fixed and missing:
        reasons.append(f"{oracle} fires a wildcard time of the repeated hour only once; schedd fires it in both passes")
    return "; ".join(reasons) or None


# ---------------------------------------------------------------------------------------------
# The corpus.

EXPRESSIONS = [
    "* * * * *", "*/15 * * * *", "0 * * * *", "30 * * * *", "*/30 * * * *", "10-50/20 * * * *", "5/15 * * * *",
    "30 2 * * *", "0 3 * * *", "0 0 * * *", "15 1 * * *", "30 1 * * *", "0,30 1-3 * * *", "0 2-3 * * *",
    "0 */2 * * *", "*/10 2 * * *", "45 23 * * *", "2 2 2 2 *",
    "0 0 29 2 *", "0 0 13 * 5", "0 0 31 * *", "0 12 1 1 *", "0 9 * * MON-FRI", "0 9 * * 1-5",
    "30 8 * * SAT,SUN", "0 0 * * 7", "0 0 1,15 * 3", "0 2 * JAN,JUL *", "0 0 1 */3 *", "45 23 31 12 *",
    "0 22 * * 0", "0 0 */2 * *", "0 6 * * FRI-SUN", "@yearly", "@monthly", "@weekly", "@daily", "@hourly",
    "0 30 2 * * *", "*/20 * * * * *", "15 30 1 * * *", "0 0 0 1 1 *", "59 59 23 31 12 *", "30 */20 * * * *",
    "0 0 L * *", "0 23 L * *", "0 0 L-1 * *", "0 0 L-2 2 *", "0 0 1,L * *", "30 1 L * *", "0 9 * * MON#1",
    "0 9 * * 1#2,5#3", "30 2 * * 0#2", "0 18 * * 5L", "0 18 * * FRIL", "30 2 * * L0", "0 12 ? * MON-FRI",
    "0 0 12 15 * ?", "0 0 L * 1", "0 6 * 3 SUN#5",
]


def transitions(zone, year):
    """The instants at which `zone` changes offset during `year`."""
    z = ZoneInfo(zone)
    out = []
    t = dt.datetime(year, 1, 1, tzinfo=UTC)
    end = dt.datetime(year + 1, 1, 1, tzinfo=UTC)
    while t < end:
        n = t + dt.timedelta(hours=1)
        if offset(z, t) != offset(z, n):
            lo, hi = t, n
            while (hi - lo).total_seconds() > 1:
                mid = lo + (hi - lo) / 2
                if offset(z, mid) == offset(z, t):
                    lo = mid
                else:
                    hi = mid
            out.append(hi.replace(microsecond=0))
        t = n
    return out


def cases():
    dst = [("America/New_York", 2026), ("Europe/Berlin", 2026), ("Australia/Lord_Howe", 2026), ("America/Sao_Paulo", 2018)]
    for zone, year in dst:
        for t in transitions(zone, year):
            for before in (dt.timedelta(hours=26), dt.timedelta(seconds=150)):
                for expr in EXPRESSIONS:
                    yield expr, zone, t - before
    plain = [("UTC", dt.datetime(2027, 12, 31, 23, 58, tzinfo=UTC)), ("UTC", dt.datetime(2028, 2, 27, 12, 0, tzinfo=UTC)),
             ("Asia/Kolkata", dt.datetime(2026, 5, 14, 18, 29, 30, tzinfo=UTC)),
             ("America/Sao_Paulo", dt.datetime(2026, 11, 1, 2, 0, tzinfo=UTC))]  # DST abolished in 2019
    for zone, start in plain:
        for expr in EXPRESSIONS:
            yield expr, zone, start


def iso(u):
    return u.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def main():
    out = []
    unexplained = []
    agree = {"croniter": 0, "systemd": 0}
    for expr, zone, start in cases():
        spec = spec_fires(expr, zone, start)
        case = {"expression": expr, "zone": zone, "start": iso(start), "expected": [iso(u) for u in spec]}
        for oracle, answer in (("croniter", croniter_fires(expr, zone, start)), ("systemd", systemd_fires(expr, zone, start))):
            if answer is None:
                continue
            if answer == spec:
                agree[oracle] += 1
                continue
            why = explain(oracle, expr, zone, spec, answer)
            if why is None:
                unexplained.append((oracle, expr, zone, iso(start), [iso(u) for u in spec], [iso(u) for u in answer]))
            case.setdefault("oracles_differ", []).append({"oracle": oracle, "answer": [iso(u) for u in answer], "why": why})
        out.append(case)
    for u in unexplained:
        print("UNEXPLAINED", *u, sep="\n  ", file=sys.stderr)
    if unexplained:
        sys.exit(f"{len(unexplained)} unexplained differences; fixture not written")
    with open(OUT, "w") as f:
        json.dump({"generated_by": "scripts/cron-fixtures.py", "count_per_case": COUNT,
                   "oracle_agreements": agree, "cases": out}, f, indent=1)
        f.write("\n")
    print(f"{len(out)} cases written; croniter agreed on {agree['croniter']}, systemd on {agree['systemd']}")


if __name__ == "__main__":
    main()
