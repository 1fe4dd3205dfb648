-- Athena queries over the AWS Cost and Usage Report (legacy CUR, Parquet, Athena integration).
-- Replace cur.cost_and_usage with your database.table. For CUR 2.0 (Data Exports) the column
-- names below are the same; partitions are `billing_period` ('2026-05') instead of year/month.
-- Always filter on partitions to keep scans (and Athena cost) small.

-- 1. Daily cost by service, last 14 days
SELECT date_trunc('day', line_item_usage_start_date)           AS day,
       line_item_product_code                                  AS service,
       round(sum(line_item_unblended_cost), 2)                 AS cost
FROM cur.cost_and_usage
WHERE year = '2026' AND month IN ('4', '5')
  AND line_item_usage_start_date >= date_add('day', -14, current_date)
  AND line_item_line_item_type IN ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage')
GROUP BY 1, 2
HAVING sum(line_item_unblended_cost) > 1
ORDER BY 1, 3 DESC;

-- 2. Hourly cost of one usage type around the spike (find the exact start time)
SELECT line_item_usage_start_date                              AS hour,
       round(sum(line_item_unblended_cost), 2)                 AS cost,
       round(sum(line_item_usage_amount), 1)                   AS usage_amount,
       max(pricing_unit)                                       AS unit
FROM cur.cost_and_usage
WHERE year = '2026' AND month = '5'
  AND line_item_usage_type LIKE '%NatGateway-Bytes%'
  AND line_item_usage_start_date BETWEEN timestamp '2026-05-10 00:00:00' AND timestamp '2026-05-12 00:00:00'
GROUP BY 1
ORDER BY 1;

-- 3. Top resources for a usage type on the spike day, with owner tags
--    (tag columns appear as resource_tags_user_<key> once the tag is activated for cost allocation)
SELECT line_item_usage_account_id                              AS account,
       line_item_resource_id                                   AS resource,
       resource_tags_user_team                                 AS team,
       resource_tags_user_service                              AS service_tag,
       round(sum(line_item_unblended_cost), 2)                 AS cost
FROM cur.cost_and_usage
WHERE year = '2026' AND month = '5'
  AND date(line_item_usage_start_date) = date '2026-05-11'
  AND line_item_usage_type LIKE '%DataTransfer-Regional-Bytes%'
GROUP BY 1, 2, 3, 4
ORDER BY 5 DESC
LIMIT 25;

-- 4. Resources first seen in the spike window (new spend rather than growth)
WITH first_seen AS (
  SELECT line_item_resource_id AS resource,
         min(line_item_usage_start_date) AS first_hour,
         line_item_product_code AS service,
         line_item_usage_account_id AS account
  FROM cur.cost_and_usage
  WHERE year = '2026' AND month IN ('4', '5')
    AND line_item_resource_id <> ''
  GROUP BY 1, 3, 4
)
SELECT f.account, f.service, f.resource, f.first_hour,
       round(sum(c.line_item_unblended_cost), 2) AS cost_since
FROM first_seen f
JOIN cur.cost_and_usage c
  ON c.line_item_resource_id = f.resource AND c.year = '2026' AND c.month = '5'
WHERE f.first_hour >= timestamp '2026-05-10 00:00:00'
GROUP BY 1, 2, 3, 4
ORDER BY 5 DESC
LIMIT 25;

-- 5. EC2 instance hours by instance type and purchase option (on-demand vs spot vs SP/RI)
SELECT product_instance_type                                   AS instance_type,
       CASE
         WHEN line_item_usage_type LIKE '%SpotUsage%' THEN 'spot'
         WHEN line_item_line_item_type = 'SavingsPlanCoveredUsage' THEN 'savings-plan'
         WHEN line_item_line_item_type = 'DiscountedUsage' THEN 'reserved'
         ELSE 'on-demand'
       END                                                     AS purchase_option,
       round(sum(line_item_usage_amount), 0)                   AS hours,
       round(sum(line_item_unblended_cost), 2)                 AS cost
FROM cur.cost_and_usage
WHERE year = '2026' AND month = '5'
  AND line_item_product_code = 'AmazonEC2'
  AND (line_item_usage_type LIKE '%BoxUsage%' OR line_item_usage_type LIKE '%SpotUsage%')
GROUP BY 1, 2
ORDER BY 4 DESC
LIMIT 30;

-- 6. Cost by team tag per day (showback; untagged spend shows as NULL)
SELECT date_trunc('day', line_item_usage_start_date)           AS day,
       coalesce(nullif(resource_tags_user_team, ''), '(untagged)') AS team,
       round(sum(line_item_unblended_cost), 2)                 AS cost
FROM cur.cost_and_usage
WHERE year = '2026' AND month = '5'
GROUP BY 1, 2
ORDER BY 1, 3 DESC;
