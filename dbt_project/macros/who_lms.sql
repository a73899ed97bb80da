{#- WHO Child Growth Standards 2006, LMS method (domain.md section 4).
    z = ((y/M)^L - 1) / (L*S), or ln(y/M)/S when L = 0. -#}
{% macro lms_z(y, l, m, s) -%}
    (case
        when abs({{ l }}) < 1e-12 then ln(({{ y }}) / ({{ m }})) / ({{ s }})
        else (pow(({{ y }}) / ({{ m }}), {{ l }}) - 1) / (({{ l }}) * ({{ s }}))
    end)
{%- endmacro %}

{#- The measurement at k standard deviations: SD_k = M * (1 + L*S*k)^(1/L), or M*exp(S*k) when L = 0. -#}
{% macro lms_sd(k, l, m, s) -%}
    (case
        when abs({{ l }}) < 1e-12 then ({{ m }}) * exp(({{ s }}) * ({{ k }}))
        else ({{ m }}) * pow(1 + ({{ l }}) * ({{ s }}) * ({{ k }}), 1.0 / ({{ l }}))
    end)
{%- endmacro %}

{#- Weight-based indices (WAZ, WHZ) only: beyond +/-3 SD the distance is measured in units of the
    3rd-2nd SD interval, because the LMS curve's skew makes the far tail unreliable.
      z > 3:  3 + (y - SD3)  / (SD3 - SD2)
      z < -3: -3 + (y - SD3neg) / (SD2neg - SD3neg) -#}
{% macro lms_z_restricted(y, l, m, s) -%}
    (case
        when {{ lms_z(y, l, m, s) }} > 3
            then 3 + (({{ y }}) - {{ lms_sd(3, l, m, s) }}) / ({{ lms_sd(3, l, m, s) }} - {{ lms_sd(2, l, m, s) }})
        when {{ lms_z(y, l, m, s) }} < -3
            then -3 + (({{ y }}) - {{ lms_sd(-3, l, m, s) }}) / ({{ lms_sd(-2, l, m, s) }} - {{ lms_sd(-3, l, m, s) }})
        else {{ lms_z(y, l, m, s) }}
    end)
{%- endmacro %}
