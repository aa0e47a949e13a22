"""Country names and codes to ISO 3166 alpha-2, for validation (is it a country?) and for
cleaning (which one?).

pycountry knows the ISO codes and English names. Legacy data also writes countries in their
own language, in Russian (exports of Russian CRMs), in Chinese, and by common short forms;
those are listed here, since no library covers them.
"""

from __future__ import annotations

import functools
import unicodedata

import pycountry

# Names pycountry does not know, by alpha-2 code. Keys are written as people write them; they
# are matched without case, accents, dots or extra spaces.
_OTHER_NAMES = {
    "RU": ["Россия", "Российская Федерация", "РФ", "Russland", "Russie", "Rusia", "俄罗斯", "Russia"],
    "US": ["USA", "U.S.A.", "U.S.", "United States of America", "America", "США",
           "Соединённые Штаты", "Vereinigte Staaten", "États-Unis", "Estados Unidos", "美国"],
    "DE": ["Deutschland", "Германия", "Allemagne", "Alemania", "德国", "BRD"],
    "CN": ["China", "PRC", "People's Republic of China", "中国", "中华人民共和国", "Китай", "Chine"],
    "GB": ["UK", "U.K.", "Great Britain", "England", "Scotland", "Wales", "Великобритания",
           "Vereinigtes Königreich", "Royaume-Uni", "Reino Unido", "英国"],
    "FR": ["Frankreich", "Франция", "Francia", "法国"],
    "IT": ["Italien", "Италия", "Italie", "意大利"],
    "ES": ["Spanien", "España", "Испания", "Espagne", "西班牙"],
    "AT": ["Österreich", "Австрия", "Autriche", "奥地利"],
    "CH": ["Schweiz", "Suisse", "Svizzera", "Швейцария", "瑞士"],
    "NL": ["Holland", "Nederland", "Niederlande", "Нидерланды", "Pays-Bas", "荷兰"],
    "PL": ["Polska", "Polen", "Польша", "Pologne", "波兰"],
    "CZ": ["Česko", "Česká republika", "Czech Republic", "Tschechien", "Чехия", "捷克"],
    "SK": ["Slovensko", "Slowakei", "Словакия", "斯洛伐克"],
    "UA": ["Україна", "Украина", "Ukraine", "乌克兰"],
    "BY": ["Беларусь", "Белоруссия", "Belarus", "白俄罗斯"],
    "KZ": ["Казахстан", "Kazakhstan", "哈萨克斯坦"],
    "JP": ["Japan", "日本", "Япония", "Japon"],
    "KR": ["South Korea", "Korea", "Республика Корея", "韩国", "대한민국"],
    "TW": ["Taiwan", "台湾", "臺灣", "Тайвань"],
    "HK": ["Hong Kong", "香港", "Гонконг"],
    "IN": ["India", "Индия", "印度", "Indien"],
    "TR": ["Turkey", "Türkiye", "Турция", "Türkei", "土耳其"],
    "FI": ["Suomi", "Финляндия", "Finnland", "芬兰"],
    "SE": ["Sverige", "Швеция", "Schweden", "瑞典"],
    "NO": ["Norge", "Норвегия", "Norwegen", "挪威"],
    "DK": ["Danmark", "Дания", "Dänemark", "丹麦"],
    "BE": ["België", "Belgique", "Belgien", "Бельгия", "比利时"],
    "BR": ["Brasil", "Бразилия", "Brasilien", "巴西"],
    "MX": ["México", "Мексика", "Mexiko", "墨西哥"],
    "CA": ["Kanada", "Канада", "加拿大"],
    "AE": ["UAE", "ОАЭ", "Emirates", "阿联酋"],
}


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.strip()).casefold()
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.replace(".", "").split())


@functools.cache
def _names() -> dict[str, str]:
    names: dict[str, str] = {}
    for country in pycountry.countries:
        code = country.alpha_2
        for attribute in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            value = getattr(country, attribute, None)
            if value:
                names[_fold(value)] = code
    for code, others in _OTHER_NAMES.items():
        for name in others:
            names[_fold(name)] = code
    return names


def to_alpha2(value: str) -> str | None:
    """The ISO 3166 alpha-2 code a country name or code stands for, or None."""
    return _names().get(_fold(value)) if value and value.strip() else None


def is_alpha2(value: str) -> bool:
    return pycountry.countries.get(alpha_2=value.strip().upper()) is not None if len(value.strip()) == 2 else False
