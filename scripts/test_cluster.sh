#!/usr/bin/env bash
# A real single-node SLURM cluster for the launcher tests: Debian's slurm-wlm (slurmctld, slurmd, slurmdbd), munge and
# MariaDB (the accounting store sacct reads), for a container-like machine (no cgroups: proctrack/linuxproc,
# task/none), with this host as its one node at 127.0.0.1.
#
#   bash scripts/test_cluster.sh install install the Debian packages (root) that are missing
#   bash scripts/test_cluster.sh start   install them if missing, configure, start, wait until the node is idle
#   bash scripts/test_cluster.sh stop    stop the daemons; the state directory stays for reading their logs
#   bash scripts/test_cluster.sh env     the line that points SLURM's commands at this cluster
#
# Everything lives in $AEVB_TEST_CLUSTER (default /tmp/aevb-test-cluster): slurm.conf, munge's key and socket, the
# daemons' state, the database and the logs. /etc is left alone; SLURM's commands find the cluster through
# SLURM_CONF, which the tests read from that directory too (tests/slurm_cluster.py). MariaDB listens on 127.0.0.1 only.
# The SLURM daemons use ports 16817-16819, not SLURM's own, so a real cluster on the machine is not disturbed; SLURM
# has no bind address, so those ports are open on every interface while the cluster runs, but every address in the
# configuration is 127.0.0.1 and nothing leaves this host.
set -euo pipefail

dir="${AEVB_TEST_CLUSTER:-/tmp/aevb-test-cluster}"
node="$(hostname -s)"
export SLURM_CONF="$dir/slurm.conf"

install() {
  local missing=0
  for program in slurmctld slurmd slurmdbd sacct munged mariadbd; do command -v "$program" >/dev/null || missing=1; done
  [ "$missing" = 0 ] && return
  echo "test cluster: installing Debian's slurmctld, slurmd, slurmdbd, slurm-client, munge and mariadb-server"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurmdbd slurm-client munge mariadb-server >/dev/null
}

configure() {
  mkdir -p "$dir"/{munge,ctld,spool,log}
  chmod 700 "$dir/munge"
  [ -f "$dir/munge/munge.key" ] || dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge/munge.key"
  local hardware
  hardware="$(slurmd -C | head -n 1 | sed 's/^NodeName=[^ ]* //')"  # CPUs, sockets, cores, RealMemory as detected
  cat >"$SLURM_CONF" <<CONF
ClusterName=aevbtest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=16819
AccountingStoragePass=$dir/munge/munge.socket
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=2048
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MinJobAge=600
KillWait=10
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1
NodeName=$node NodeAddr=127.0.0.1 $hardware State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
  cat >"$dir/slurmdbd.conf" <<CONF
DbdHost=$node
DbdAddr=127.0.0.1
DbdPort=16819
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=16306
StorageUser=slurm
StoragePass=aevb-test-cluster
StorageLoc=slurm_acct_db
PidFile=$dir/slurmdbd.pid
LogFile=$dir/log/slurmdbd.log
CONF
  chmod 600 "$dir/slurmdbd.conf"
}

database() {  # MariaDB on 127.0.0.1:16306, with the user slurmdbd logs in as
  if [ ! -d "$dir/db/mysql" ]; then
    mariadb-install-db --user=root --datadir="$dir/db" --auth-root-authentication-method=socket >"$dir/log/mariadb-install.log" 2>&1
  fi
  mariadbd --user=root --datadir="$dir/db" --socket="$dir/db.socket" --pid-file="$dir/mariadb.pid" \
    --bind-address=127.0.0.1 --port=16306 --skip-name-resolve --log-error="$dir/log/mariadb.log" </dev/null >/dev/null 2>&1 &
  for _ in $(seq 60); do
    mariadb --socket="$dir/db.socket" -u root -e "SELECT 1" >/dev/null 2>&1 && break
    sleep 0.5
  done
  mariadb --socket="$dir/db.socket" -u root -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY
    'aevb-test-cluster'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;"
}

start() {
  install
  stop quietly
  configure
  munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
    --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed" --log-file="$dir/log/munged.log"
  database
  slurmdbd
  for _ in $(seq 60); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.5; done
  sacctmgr -i add cluster aevbtest >/dev/null 2>&1 || true  # there already from an earlier start: fine
  slurmctld -i  # -i: ignore the job state an earlier cluster left in $dir
  slurmd
  for _ in $(seq 60); do
    if sinfo -h -o %T 2>/dev/null | grep -q '^idle'; then
      echo "test cluster: up ($(sinfo -h -o '%P %D node, %c CPUs, %m MB, %T')); SLURM_CONF=$SLURM_CONF"
      return
    fi
    sleep 1
  done
  echo "test cluster: its node did not come up within 60 s; the daemons' logs follow" >&2
  tail -n 20 "$dir"/log/*.log >&2
  exit 1
}

stop() {
  local pidfile pid
  for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/slurmdbd.pid" "$dir/mariadb.pid" "$dir/munge/munged.pid"; do
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
    rm -f "$pidfile"
  done
  [ "${1:-}" = quietly ] || echo "test cluster: stopped (logs in $dir/log)"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  env) echo "export SLURM_CONF=$SLURM_CONF" ;;
  *) echo "usage: bash scripts/test_cluster.sh install|start|stop|env" >&2; exit 2 ;;
esac
