#!/usr/bin/env bash
# Create an AWS Cost Anomaly Detection monitor (per service) and an alert subscription.
# Run once per payer account. Idempotent: reuses a monitor with the same name.
# Usage: create-cost-anomaly-monitor.sh --name prod-services --threshold 100 (--email a@b.com | --sns-arn ARN)
#   --threshold  alert when the anomaly's total impact is at least this many USD
#   email subscribers get a DAILY summary; SNS subscribers get IMMEDIATE alerts.
set -euo pipefail

NAME=""; THRESHOLD=100; EMAIL=""; SNS=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --name) NAME="$2"; shift 2 ;;
    --threshold) THRESHOLD="$2"; shift 2 ;;
    --email) EMAIL="$2"; shift 2 ;;
    --sns-arn) SNS="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$NAME" && ( -n "$EMAIL" || -n "$SNS" ) ]] || { echo "need --name and --email or --sns-arn" >&2; exit 2; }

monitor_arn=$(aws ce get-anomaly-monitors --output json \
  | jq -r --arg n "$NAME" '.AnomalyMonitors[] | select(.MonitorName == $n) | .MonitorArn' | head -1)

if [[ -z "$monitor_arn" ]]; then
  monitor_arn=$(aws ce create-anomaly-monitor --output text --query MonitorArn \
    --anomaly-monitor "$(jq -cn --arg n "$NAME" '{MonitorName: $n, MonitorType: "DIMENSIONAL", MonitorDimension: "SERVICE"}')")
  echo "created monitor $monitor_arn"
else
  echo "monitor exists: $monitor_arn"
fi

if [[ -n "$SNS" ]]; then
  subscribers=$(jq -cn --arg a "$SNS" '[{Type: "SNS", Address: $a}]'); freq=IMMEDIATE
  echo "note: the SNS topic policy must allow costalerts.amazonaws.com to sns:Publish"
else
  subscribers=$(jq -cn --arg a "$EMAIL" '[{Type: "EMAIL", Address: $a}]'); freq=DAILY
fi

sub_name="$NAME-over-$THRESHOLD-usd"
existing=$(aws ce get-anomaly-subscriptions --monitor-arn "$monitor_arn" --output json \
  | jq -r --arg n "$sub_name" '.AnomalySubscriptions[] | select(.SubscriptionName == $n) | .SubscriptionArn' | head -1)
if [[ -n "$existing" ]]; then
  echo "subscription exists: $existing"
  exit 0
fi

subscription=$(jq -cn --arg n "$sub_name" --arg m "$monitor_arn" --arg f "$freq" \
  --argjson s "$subscribers" --arg t "$THRESHOLD" '{
    SubscriptionName: $n,
    MonitorArnList: [$m],
    Subscribers: $s,
    Frequency: $f,
    ThresholdExpression: {
      Dimensions: {Key: "ANOMALY_TOTAL_IMPACT_ABSOLUTE", MatchOptions: ["GREATER_THAN_OR_EQUAL"], Values: [$t]}
    }
  }')
arn=$(aws ce create-anomaly-subscription --anomaly-subscription "$subscription" --query SubscriptionArn --output text)
echo "created subscription $arn ($freq, impact >= $THRESHOLD USD)"
