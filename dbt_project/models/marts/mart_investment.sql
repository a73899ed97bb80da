-- Investment realisation per kecamatan, quarter, BKPM sector and investor type, approved LKPM reports
-- only. Native units are kept: investment_usd in US$ thousand (PMA only), investment_idr in Rp million
-- (PMDN as reported, PMA converted at the year's APBN rate, shown in exchange_rate). Growth compares with
-- the same quarter of the previous year at the same grain.
with grouped as (
    select
        region_code,
        year,
        quarter,
        period,
        sector_code,
        investor_type,
        count(*) as projects,
        round(sum(investment_usd_thousand) filter (where investor_type = 'PMA'), 6) as investment_usd,
        round(sum(investment_idr_million_total), 6) as investment_idr,
        any_value(exchange_rate) as exchange_rate,
        sum(workers_local) as workers_local,
        sum(workers_foreign) as workers_foreign
    from {{ ref('int_lkpm_approved') }}
    group by all
),
with_growth as (
    select
        current_q.*,
        previous_q.investment_idr as investment_idr_same_quarter_prev_year
    from grouped as current_q
    left join grouped as previous_q
        on previous_q.region_code = current_q.region_code
        and previous_q.sector_code is not distinct from current_q.sector_code
        and previous_q.investor_type = current_q.investor_type
        and previous_q.quarter = current_q.quarter
        and previous_q.year = current_q.year - 1
)
select
    cast(g.region_code as varchar) as region_code,
    cast(g.year as integer) as year,
    cast(g.quarter as integer) as quarter,
    cast(g.period as varchar) as period,
    cast(g.sector_code as integer) as sector_code,
    cast(sectors.sector_name as varchar) as sector,
    cast(sectors.sector_group as varchar) as sector_group,
    cast(g.investor_type as varchar) as investor_type,
    cast(g.projects as bigint) as projects,
    cast(g.investment_usd as double) as investment_usd,
    cast(g.investment_idr as double) as investment_idr,
    cast(g.exchange_rate as double) as exchange_rate,
    cast(g.workers_local as bigint) as workers_local,
    cast(g.workers_foreign as bigint) as workers_foreign,
    cast(g.investment_idr_same_quarter_prev_year as double) as investment_idr_same_quarter_prev_year,
    cast({{ pct('g.investment_idr - g.investment_idr_same_quarter_prev_year', 'g.investment_idr_same_quarter_prev_year') }} as double) as growth_yoy_pct
from with_growth as g
left join {{ ref('bkpm_sectors') }} as sectors on sectors.sector_code = g.sector_code
