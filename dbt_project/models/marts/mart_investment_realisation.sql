-- Investment realisation of the whole kab/kota per quarter against the year's RKPD/RPJMD target
-- (planning_targets, indicator investment_idr_million) and against the same quarter of the previous
-- year. Amounts in Rp million (PMA converted at the APBN rate). Quarterly LKPM figures are per quarter, so
-- the year-to-date value sums the quarters so far.
with quarters as (
    select
        region.regency_code as region_code,
        approved.year,
        approved.quarter,
        round(sum(approved.investment_idr_million_total), 6) as investment_idr,
        round(sum(approved.investment_idr_million_total) filter (where approved.investor_type = 'PMA'), 6) as investment_idr_pma,
        round(sum(approved.investment_idr_million_total) filter (where approved.investor_type = 'PMDN'), 6) as investment_idr_pmdn
    from {{ ref('int_lkpm_approved') }} as approved
    inner join {{ ref('dim_region') }} as region on region.region_code = approved.region_code
    group by all
),
cumulative as (
    select
        *,
        sum(investment_idr) over (partition by region_code, year order by quarter) as investment_idr_ytd
    from quarters
)
select
    cast(c.region_code as varchar) as region_code,
    cast(c.year as integer) as year,
    cast(c.quarter as integer) as quarter,
    cast(c.year || '-Q' || c.quarter as varchar) as period,
    cast(c.investment_idr as double) as investment_idr,
    cast(c.investment_idr_pma as double) as investment_idr_pma,
    cast(c.investment_idr_pmdn as double) as investment_idr_pmdn,
    cast(c.investment_idr_ytd as double) as investment_idr_ytd,
    cast(targets.target_value as double) as target_idr,
    cast({{ pct('c.investment_idr_ytd', 'targets.target_value') }} as double) as realisation_pct,
    cast(previous.investment_idr as double) as investment_idr_same_quarter_prev_year,
    cast({{ pct('c.investment_idr - previous.investment_idr', 'previous.investment_idr') }} as double) as growth_yoy_pct
from cumulative as c
left join cumulative as previous
    on previous.region_code = c.region_code and previous.year = c.year - 1 and previous.quarter = c.quarter
left join {{ ref('planning_targets') }} as targets
    on targets.region_code = c.region_code and targets.year = c.year and targets.indicator = 'investment_idr_million'
