"""Country names and codes to ISO 3166 alpha-2, for validation (is it a country?) and for
cleaning (which one?).

pycountry knows the ISO codes and English names. Legacy data also writes countries in their
own language, in Russian (exports of Russian CRMs), in Chinese, and by common short forms;
those are listed here, since no library covers them.
"""

from __future__ import annotations

import functools
import unicodedata

import pandas as pd
import pycountry

# Names pycountry does not know, by alpha-2 code. Keys are written as people write them; they
# are matched without case, accents, dots or extra spaces.
_OTHER_NAMES = {
    "RU": ["Россия", "Российская Федерация", "РФ", "Russland", "Russie", "Rusia", "俄罗斯", "Russia",
           "Rusko"],
    "US": ["USA", "U.S.A.", "U.S.", "United States of America", "America", "США",
           "Соединённые Штаты", "Vereinigte Staaten", "États-Unis", "Estados Unidos", "美国",
           "Spojené státy", "Spojené státy americké", "Spojené štáty", "Spojené štáty americké"],
    "DE": ["Deutschland", "Германия", "Allemagne", "Alemania", "德国", "BRD", "Německo", "Nemecko"],
    "CN": ["China", "PRC", "People's Republic of China", "中国", "中华人民共和国", "Китай", "Chine", "中國",
           "Čína", "Chine populaire"],
    "GB": ["UK", "U.K.", "Great Britain", "England", "Scotland", "Wales", "Великобритания",
           "Vereinigtes Königreich", "Royaume-Uni", "Reino Unido", "英国", "Northern Ireland",
           "Angleterre", "Royaume Uni", "Velká Británie", "Veľká Británia", "Англия"],
    "FR": ["Frankreich", "Франция", "Francia", "法国", "Francie", "Francúzsko"],
    "IT": ["Italien", "Италия", "Italie", "意大利", "Italia", "Itálie", "Taliansko"],
    "ES": ["Spanien", "España", "Испания", "Espagne", "西班牙", "Španělsko", "Španielsko"],
    "AT": ["Österreich", "Австрия", "Autriche", "奥地利", "Rakousko", "Rakúsko"],
    "CH": ["Schweiz", "Suisse", "Svizzera", "Швейцария", "瑞士", "Švýcarsko", "Švajčiarsko"],
    "NL": ["Holland", "Nederland", "Niederlande", "Нидерланды", "Pays-Bas", "荷兰",
           "The Netherlands", "Nizozemsko", "Holandsko"],
    "PL": ["Polska", "Polen", "Польша", "Pologne", "波兰", "Polsko", "Poľsko"],
    "CZ": ["Česko", "Česká republika", "Czech Republic", "Tschechien", "Чехия", "捷克",
           "Tschechische Republik", "Tchéquie", "République tchèque"],
    "SK": ["Slovensko", "Slowakei", "Словакия", "斯洛伐克", "Slovenská republika", "Slovaquie"],
    "UA": ["Україна", "Украина", "Ukraine", "乌克兰", "Ukrajina"],
    "BY": ["Беларусь", "Белоруссия", "Belarus", "白俄罗斯"],
    "KZ": ["Казахстан", "Kazakhstan", "哈萨克斯坦"],
    "JP": ["Japan", "日本", "Япония", "Japon"],
    "KR": ["South Korea", "Korea", "Республика Корея", "韩国", "대한민국", "Korea, South", "한국", "韓國",
           "Корея", "Южная Корея"],
    "TW": ["Taiwan", "台湾", "臺灣", "Тайвань", "台灣"],
    "HK": ["Hong Kong", "香港", "Гонконг", "Hongkong"],
    "IN": ["India", "Индия", "印度", "Indien", "Inde"],
    "TR": ["Turkey", "Türkiye", "Турция", "Türkei", "土耳其"],
    "FI": ["Suomi", "Финляндия", "Finnland", "芬兰"],
    "SE": ["Sverige", "Швеция", "Schweden", "瑞典", "Suède"],
    "NO": ["Norge", "Норвегия", "Norwegen", "挪威"],
    "DK": ["Danmark", "Дания", "Dänemark", "丹麦"],
    "BE": ["België", "Belgique", "Belgien", "Бельгия", "比利时"],
    "BR": ["Brasil", "Бразилия", "Brasilien", "巴西", "Brésil"],
    "MX": ["México", "Мексика", "Mexiko", "墨西哥", "Mexique"],
    "CA": ["Kanada", "Канада", "加拿大"],
    "HU": ["Magyarország", "Ungarn", "Hongrie", "Maďarsko", "Венгрия", "匈牙利"],
    "GR": ["Ελλάδα", "Hellas", "Griechenland", "Grèce", "Grecia", "Řecko", "Grécko", "Греция",
           "希腊"],
    "HR": ["Hrvatska", "Kroatien", "Croatie", "Chorvatsko", "Хорватия"],
    "RO": ["România", "Rumänien", "Roumanie", "Rumunsko", "Румыния"],
    "BG": ["България", "Bulgarien", "Bulgarie", "Bulharsko", "Болгария"],
    "RS": ["Srbija", "Србија", "Serbien", "Serbie", "Srbsko", "Сербия"],
    "SI": ["Slovenija", "Slowenien", "Slovénie", "Slovinsko", "Словения"],
    "ME": ["Crna Gora", "Montenegro", "Черногория"],
    "MK": ["Macedonia", "Mazedonien", "Македонија"],
    "LT": ["Lietuva", "Litauen", "Lituanie", "Litva", "Литва"],
    "LV": ["Latvija", "Lettland", "Lettonie", "Lotyšsko", "Латвия"],
    "EE": ["Eesti", "Estland", "Estonie", "Estonsko", "Эстония"],
    "IE": ["Éire", "Irland", "Irlande", "Irsko", "Ирландия"],
    "LU": ["Luxemburg", "Lucembursko", "Luxembursko", "Люксембург"],
    "PT": ["Portugalsko", "Португалия"],
    "IS": ["Ísland", "Island", "Исландия"],
    "CY": ["Zypern", "Chypre", "Kypr", "Кипр"],
    "GE": ["Грузия", "Georgien", "Géorgie", "საქართველო"],
    "AM": ["Армения", "Armenien", "Arménie", "Հայաստան"],
    "AZ": ["Азербайджан", "Aserbaidschan", "Azərbaycan"],
    "UZ": ["Узбекистан", "Usbekistan", "Oʻzbekiston"],
    "KG": ["Киргизия", "Кыргызстан", "Kirgisistan", "Kyrgyzstan"],
    "TJ": ["Таджикистан", "Tadschikistan"],
    "TM": ["Туркменистан"],
    "MD": ["Молдова", "Молдавия", "Moldawien", "Moldavie"],
    "IL": ["Израиль", "Israël", "以色列"],
    "EG": ["Египет", "Ägypten", "Égypte", "埃及"],
    "AU": ["Австралия", "Australien", "Australie", "澳大利亚"],
    "NZ": ["Новая Зеландия", "Neuseeland", "Nouvelle-Zélande", "新西兰"],
    "VN": ["Vietnam", "Вьетнам", "Việt Nam", "越南"],
    "TH": ["Таиланд", "Thailand", "Thaïlande", "泰国"],
    "ID": ["Индонезия", "Indonesien", "Indonésie", "印度尼西亚"],
    "MY": ["Малайзия", "Malaysia", "Malaisie", "马来西亚"],
    "SG": ["Singapur", "Singapour", "Сингапур", "新加坡"],
    "MO": ["澳门", "澳門", "Macao", "Macau"],
    "SA": ["KSA", "Саудовская Аравия", "Saudi-Arabien", "Arabie saoudite", "沙特阿拉伯"],
    "QA": ["Катар", "Katar"],
    "IR": ["Иран", "伊朗"],
    "IQ": ["Ирак", "Irak"],
    "MN": ["Монголия", "Mongolei", "Mongolie", "蒙古"],
    "CI": ["Ivory Coast", "Côte d'Ivoire", "Elfenbeinküste"],
    "MM": ["Burma", "Myanmar", "Мьянма"],
    "CV": ["Cape Verde", "Kap Verde"],
    "SZ": ["Swaziland"],
    "VA": ["Vatican", "Vatican City", "Vatikan"],
    "PS": ["Palestine", "Palästina"],
    "ZA": ["ЮАР", "Südafrika", "Afrique du Sud", "南非"],
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


def source_regions(frame: pd.DataFrame, default: str | None, regions: dict[str, str] | None) -> pd.Series:
    """Per record, the region of its source (`regions`, by the `_source` a mapped record
    carries), else `default`: where its phone numbers without a country code are read when
    the record has no country. None where neither is known."""
    if not regions or "_source" not in frame:
        return pd.Series(default, index=frame.index, dtype=object)
    return frame["_source"].astype(str).map(regions).astype(object).where(
        lambda found: found.notna(), default)


def phone_regions(country: pd.Series | None, default: pd.Series | str | None, index: pd.Index) -> pd.Series:
    """Per record, the region its phone numbers without a country code are read in: its
    country's (`country`, a name or code as written), else `default` (the rules' region, or
    its source's, per record). Countries are looked up once per distinct value."""
    fallback = default if isinstance(default, pd.Series) else pd.Series(default, index=index, dtype=object)
    if country is None:
        return fallback.astype(object)
    codes = {v: to_alpha2(v) for v in country.dropna().unique() if isinstance(v, str) and v.strip()}
    known = country.map(codes).astype(object)
    return known.where(known.notna(), fallback).astype(object)
