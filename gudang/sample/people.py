"""Synthetic people: Indonesian-looking names, NIK / No KK numbers and phone numbers (all fictitious)."""

from __future__ import annotations

import numpy as np
import pandas as pd

MALE = [
    "Muhammad",
    "Ahmad",
    "Budi",
    "Agus",
    "Andi",
    "Bagus",
    "Dimas",
    "Eko",
    "Fajar",
    "Gilang",
    "Hendra",
    "Irfan",
    "Joko",
    "Kurniawan",
    "Lukman",
    "Rizky",
    "Yusuf",
    "Arif",
    "Bayu",
    "Dwi",
    "Fikri",
    "Galih",
    "Hadi",
    "Ilham",
    "Rafi",
    "Satria",
    "Teguh",
    "Wahyu",
    "Yoga",
    "Zaki",
    "Aditya",
    "Bima",
    "Danu",
    "Raka",
    "Haris",
    "Farhan",
    "Naufal",
    "Reza",
    "Slamet",
    "Sugeng",
]
FEMALE = [
    "Siti",
    "Dewi",
    "Sri",
    "Putri",
    "Ayu",
    "Aisyah",
    "Anisa",
    "Bunga",
    "Citra",
    "Dinda",
    "Eka",
    "Fitri",
    "Indah",
    "Kartika",
    "Lestari",
    "Maya",
    "Nur",
    "Rina",
    "Sari",
    "Tika",
    "Wulan",
    "Yuni",
    "Zahra",
    "Aulia",
    "Nabila",
    "Salsabila",
    "Kirana",
    "Laras",
    "Ratna",
    "Endah",
    "Puji",
    "Umi",
    "Retno",
    "Galuh",
    "Khansa",
    "Alya",
    "Nadia",
    "Hana",
    "Intan",
]
MIDDLE = [
    "Adi",
    "Ari",
    "Nugroho",
    "Putra",
    "Dwi",
    "Tri",
    "Eka",
    "Rahma",
    "Nur",
    "Indra",
    "Budi",
    "Sekar",
    "Kusuma",
    "Wijaya",
    "Cahya",
    "Bintang",
    "Surya",
    "Dewi",
    "Ayu",
    "Fitri",
]
FAMILY = [
    "Santoso",
    "Wibowo",
    "Saputra",
    "Prasetyo",
    "Hidayat",
    "Setiawan",
    "Nugraha",
    "Pratama",
    "Kurniasih",
    "Lestari",
    "Susanto",
    "Purnomo",
    "Handayani",
    "Wahyuni",
    "Rahayu",
    "Firmansyah",
    "Maulana",
    "Ramadhan",
    "Hakim",
    "Syahputra",
    "Utomo",
    "Haryanto",
    "Sulistyo",
    "Suryani",
    "Widodo",
    "Permana",
    "Gunawan",
    "Hartono",
    "Sutrisno",
    "Wijayanti",
    "Puspitasari",
    "Anggraini",
    "Kusumawati",
    "Setyowati",
    "Mulyadi",
    "Rohman",
    "Fauzi",
    "Subekti",
    "Darmawan",
    "Sasongko",
    "Suharto",
    "Raharjo",
]


def names(rng: np.random.Generator, sex: np.ndarray) -> np.ndarray:
    """Two or three words; sex 'L'/'P' picks the first name list."""
    n = len(sex)
    first = np.where(
        np.asarray(sex) == "L",
        np.array(MALE, dtype=object)[rng.integers(0, len(MALE), n)],
        np.array(FEMALE, dtype=object)[rng.integers(0, len(FEMALE), n)],
    )
    middle = np.array(MIDDLE, dtype=object)[rng.integers(0, len(MIDDLE), n)]
    last = np.array(FAMILY, dtype=object)[rng.integers(0, len(FAMILY), n)]
    three = rng.random(n) < 0.5
    return np.where(three, first + " " + middle + " " + last, first + " " + last)


def niks(district_digits: np.ndarray, birth_days: np.ndarray, sex: np.ndarray) -> np.ndarray:
    """16-digit NIKs: 6-digit kecamatan + DDMMYY (day + 40 for women) + a serial unique per prefix.

    ``birth_days`` are days since 1970-01-01. Returned as int64 (safe: < 2**53, exact as a float).
    """
    dates = pd.to_datetime(np.asarray(birth_days, dtype="int64"), unit="D")
    day = np.asarray(dates.day) + np.where(np.asarray(sex) == "P", 40, 0)
    ddmmyy = day * 10_000 + np.asarray(dates.month) * 100 + np.asarray(dates.year) % 100
    prefix = np.asarray(district_digits, dtype=np.int64) * 1_000_000 + ddmmyy
    serial = pd.Series(prefix).groupby(prefix).cumcount().to_numpy() + 1
    return prefix * 10_000 + serial


def phones(rng: np.random.Generator, n: int) -> np.ndarray:
    operator = np.array(["0812", "0813", "0821", "0852", "0857", "0878", "0895", "0881"], dtype=object)
    number = rng.integers(10_000_000, 99_999_999, n).astype(str).astype(object)
    return operator[rng.integers(0, len(operator), n)] + number
