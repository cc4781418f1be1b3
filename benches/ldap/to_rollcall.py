#!/usr/bin/env python3
"""Turn the benchmark's `gen.py --no-operational` directory.ldif into LDIF that Rollcall accepts.

    python3 to_rollcall.py /tmp/ldapbench-data/u100000-plain

reads DIR/directory.ldif and DIR/manifest.json, writes
    DIR/rollcall.ldif          entries for `ldapadd -c`
    DIR/rollcall-reader.ldif   ldapmodify: cn=reader becomes a member of the Administrators role

Changes, nothing else:
  * entries Rollcall already has are dropped: the base, ou=people, ou=services, and ou=groups itself
  * groups move from ou=groups to ou=roles (Rollcall has no ou=groups; groupOfNames live in ou=roles)
  * every person and the reader service account get `active: TRUE` (Rollcall creates accounts
    inactive otherwise, and inactive accounts cannot bind)
  * the reader (cn=reader,ou=services) is written as objectClass applicationProcess with the
    plaintext password from the manifest (Rollcall hashes it); users keep their {ARGON2} hashes
  * `description` is dropped from the groups and the reader: Rollcall refuses it there
    ("a plain group carries no settings" / "description cannot be written here"); no benchmark
    query reads it
"""
import json
import sys
from pathlib import Path


def records(path: Path):
    buf = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line == "":
                if buf:
                    yield buf
                    buf = []
            else:
                buf.append(line)
    if buf:
        yield buf


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = Path(sys.argv[1])
    m = json.loads((d / "manifest.json").read_text())
    base = m["base"]
    groups_base = m["groups_base"]
    roles_base = f"ou=roles,{base}"
    reader_dn = m["reader_dn"]
    drop = {base.lower(), m["people_base"].lower(), f"ou=services,{base}".lower(),
            groups_base.lower()}
    n_users = n_groups = n_drop = 0
    with open(d / "rollcall.ldif", "w") as out:
        for rec in records(d / "directory.ldif"):
            assert rec[0].startswith("dn: "), rec[0]
            dn = rec[0][4:]
            if dn.lower() in drop:
                n_drop += 1
                continue
            if dn.lower() == reader_dn.lower():
                rec = [f"dn: {reader_dn}", "objectClass: applicationProcess", "cn: reader",
                       f"userPassword: {m['reader_password']}", "active: TRUE"]
            elif dn.lower().endswith("," + groups_base.lower()):
                rec = [f"dn: {dn[: -len(groups_base)]}{roles_base}"] + [
                    l.replace(groups_base, roles_base) for l in rec[1:]
                    if not l.lower().startswith("description:")]
                n_groups += 1
            elif any(l.lower() == "objectclass: inetorgperson" for l in rec):
                rec = rec + ["active: TRUE"]
                n_users += 1
            else:
                sys.exit(f"unexpected entry {dn}")
            out.write("\n".join(rec) + "\n\n")
    (d / "rollcall-reader.ldif").write_text(
        f"dn: cn=Administrators,{roles_base}\nchangetype: modify\nadd: member\n"
        f"member: {reader_dn}\n")
    print(json.dumps({"out": str(d / "rollcall.ldif"), "users": n_users, "groups": n_groups,
                      "dropped": n_drop}))


if __name__ == "__main__":
    main()
