#!/usr/bin/env bash
# Sweep regions for common sources of waste and for the NAT Gateways processing the most data.
# Read-only. Usage: aws-resource-sweep.sh [--regions "eu-west-1 us-east-1"] [--snapshot-age-days 180]
set -euo pipefail

REGIONS=""; SNAP_AGE=180
while [[ $# -gt 0 ]]; do
  case "$1" in
    --regions) REGIONS="$2"; shift 2 ;;
    --snapshot-age-days) SNAP_AGE="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$REGIONS" ]] || REGIONS=$(aws ec2 describe-regions --query 'Regions[].RegionName' --output text)
ACCOUNT=$(aws sts get-caller-identity --query Account --output text)
CUTOFF=$(date -u -d "-$SNAP_AGE days" +%F)
NOW=$(date -u +%FT%TZ); DAY_AGO=$(date -u -d '-1 day' +%FT%TZ)

echo "account $ACCOUNT, regions: $REGIONS"
for r in $REGIONS; do
  echo
  echo "################ $r"

  vols=$(aws ec2 describe-volumes --region "$r" --filters Name=status,Values=available \
    --query 'Volumes[].[VolumeId,Size,VolumeType,CreateTime]' --output text)
  if [[ -n "$vols" ]]; then
    echo "-- unattached EBS volumes (billed per GB-month while unattached)"
    awk '{printf "   %-22s %6s GiB  %-4s created %s\n", $1, $2, $3, substr($4,1,10); t+=$2} END {printf "   total %d GiB\n", t}' <<<"$vols"
  fi

  eips=$(aws ec2 describe-addresses --region "$r" \
    --query 'Addresses[?AssociationId==null].[PublicIp,AllocationId]' --output text)
  if [[ -n "$eips" ]]; then
    echo "-- unassociated Elastic IPs (public IPv4 is billed hourly, attached or not)"
    sed 's/^/   /' <<<"$eips"
  fi

  snaps=$(aws ec2 describe-snapshots --region "$r" --owner-ids self \
    --query "Snapshots[?StartTime<'$CUTOFF'].[SnapshotId,VolumeSize,StartTime,Description]" --output text 2>/dev/null || true)
  if [[ -n "$snaps" ]]; then
    n=$(wc -l <<<"$snaps")
    echo "-- $n snapshots older than $SNAP_AGE days (first 10; check they are not AMI backing snapshots)"
    head -10 <<<"$snaps" | awk -F'\t' '{printf "   %-24s %6s GiB  %s  %s\n", $1, $2, substr($3,1,10), $4}'
  fi

  stopped=$(aws ec2 describe-instances --region "$r" --filters Name=instance-state-name,Values=stopped \
    --query 'Reservations[].Instances[].[InstanceId,InstanceType,StateTransitionReason,Tags[?Key==`Name`]|[0].Value]' --output text)
  if [[ -n "$stopped" ]]; then
    echo "-- stopped instances (their EBS volumes still bill)"
    sed 's/^/   /' <<<"$stopped"
  fi

  nolimit=$(aws logs describe-log-groups --region "$r" \
    --query 'logGroups[?!retentionInDays].[storedBytes,logGroupName]' --output text 2>/dev/null | sort -rn | head -10 || true)
  if [[ -n "$nolimit" ]]; then
    echo "-- largest log groups without retention (never expire)"
    awk -F'\t' '{printf "   %10.1f GiB  %s\n", $1/1073741824, $2}' <<<"$nolimit"
  fi

  nats=$(aws ec2 describe-nat-gateways --region "$r" --filter Name=state,Values=available \
    --query 'NatGateways[].[NatGatewayId,VpcId]' --output text)
  if [[ -n "$nats" ]]; then
    echo "-- NAT Gateways: data processed in the last 24h (billed per GB processed)"
    while read -r nat vpc; do
      total=0
      for m in BytesInFromSource BytesInFromDestination; do
        v=$(aws cloudwatch get-metric-statistics --region "$r" --namespace AWS/NATGateway --metric-name "$m" \
          --dimensions Name=NatGatewayId,Value="$nat" --start-time "$DAY_AGO" --end-time "$NOW" \
          --period 86400 --statistics Sum --query 'sum(Datapoints[].Sum)' --output text)
        [[ "$v" == "None" ]] && v=0
        total=$(awk -v a="$total" -v b="$v" 'BEGIN {printf "%.0f", a + b}')
      done
      awk -v n="$nat" -v vpc="$vpc" -v b="$total" 'BEGIN {printf "   %-24s %-22s %10.1f GB\n", n, vpc, b/1e9}'
      eps=$(aws ec2 describe-vpc-endpoints --region "$r" --filters Name=vpc-id,Values="$vpc" \
        --query 'VpcEndpoints[].ServiceName' --output text | tr '\t' '\n' | sed 's/.*\.//' | sort -u | tr '\n' ' ')
      echo "      VPC endpoints in $vpc: ${eps:-none}"
    done <<<"$nats"
  fi
done
