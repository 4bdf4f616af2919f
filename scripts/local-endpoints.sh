#!/usr/bin/env bash
# Prints how to reach each service of the local stack.
set -euo pipefail
cd "$(dirname "$0")/.."
ip() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1" 2>/dev/null; }
secrets=inventories/local/group_vars/all/secrets.yml
pw() { sed -n "s/^$1: \"\(.*\)\"/\1/p" "$secrets"; }
echo
echo "odoo-scale local stack is up (secrets in $secrets)"
for h in $(ansible-inventory --list | python3 -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin)["_meta"]["hostvars"])))'); do
  a=$(ip "$h" || true)
  printf '  %-12s %s\n' "$h" "${a:-(no container)}"
done
pgb=$(ansible-inventory --graph pgbouncer | sed -n 's/.*--//p' | head -1)
if [[ -n $pgb ]]; then
  echo
  echo "Odoo database through PgBouncer (transaction pool):"
  echo "  psql 'postgresql://odoo:$(pw postgresql_app_password)@$(ip "$pgb"):6432/odoo'"
  echo "Read-only alias (replica):"
  echo "  psql 'postgresql://odoo:$(pw postgresql_app_password)@$(ip "$pgb"):6432/odoo_ro'"
  echo "PgBouncer console:"
  echo "  psql 'postgresql://pgbouncer_admin:$(pw pgbouncer_admin_password)@$(ip "$pgb"):6432/pgbouncer' -c 'SHOW POOLS'"
fi
redis=$(ansible-inventory --graph redis | sed -n 's/.*--//p' | head -1)
if [[ -n $redis ]]; then
  echo "Redis (Odoo's session store, ACL user odoo):"
  echo "  redis-cli -h $(ip "$redis") --user odoo --pass '$(pw redis_odoo_password)' --no-auth-warning PING"
fi
s3=$(ansible-inventory --graph objectstore | sed -n 's/.*--//p' | head -1)
if [[ -n $s3 ]]; then
  echo "Object store (S3 API, bucket odoo-filestore, Odoo's key):"
  echo "  endpoint http://$(ip "$s3"):8333  access key $(pw objectstore_odoo_access_key)  secret $(pw objectstore_odoo_secret_key)"
fi
mon=$(ansible-inventory --graph monitoring | sed -n 's/.*--//p' | head -1)
if [[ -n $mon && -n $(ip "$mon" || true) ]]; then
  echo "Monitoring (README: Monitoring): Prometheus, its targets and alerts; Alertmanager:"
  echo "  http://$(ip "$mon"):9090/classic/targets   http://$(ip "$mon"):9090/classic/alerts   http://$(ip "$mon"):9093/"
fi
lb=$(ansible-inventory --graph lb | sed -n 's/.*--//p' | head -1)
if [[ -n $lb && -n $(ip "$lb" || true) ]]; then
  echo
  echo "Odoo, through HAProxy:"
  echo "  http://$(ip "$lb")/    login admin, password: odoo_admin_user_password in $secrets"
fi
echo "A shell on a host: docker exec -it <host> bash    Remove it all: make down"
