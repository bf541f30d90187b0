"""Deterministic, realistic Moodle + IOMAD demo data.

``generate(db, size="small", seed=42, now=...)`` fills the Moodle/IOMAD tables of
:mod:`alxapi.demo.moodle_schema` with companies, departments, users, courses, activities,
enrolments, role assignments, activity and course completions and web-service tokens, the way a
real IOMAD site would hold them, including the awkward cases a reporting product must survive
(suspended and deleted users, users in two departments or two companies, disabled enrolment
methods, expired and future enrolments, hidden courses, courses without completion tracking,
activities being deleted, duplicate e-mail addresses, non-ASCII names).

Determinism: all randomness comes from one ``random.Random(seed)`` and all times from ``now``, so
the same seed, size and ``now`` give byte-identical tables. Ids are assigned here (no read-back).

Speed: the "1m" size (exactly 1,000,000 enrolments, ~3.3M activity completions) is streamed in
blocks of users, so memory stays flat; the tables are loaded without indexes and indexed
afterwards.
"""

from __future__ import annotations

import hashlib
import random
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import peewee

from .activity import make_activity
from .moodle_schema import (
    TABLES,
    create_moodle_indexes,
    create_moodle_schema,
    dialect_of,
    insert_tuples,
    quote_name,
)

HOUR = 3600
DAY = 86400
YEAR = 365 * DAY

# Moodle constants (lib/accesslib.php, lib/completionlib.php, lib/enrollib.php).
CONTEXT_SYSTEM, CONTEXT_COURSECAT, CONTEXT_COURSE = 10, 40, 50
ROLE_EDITINGTEACHER, ROLE_TEACHER, ROLE_STUDENT = 3, 4, 5
SYSTEM_CONTEXT_ID = 1
GUEST_USER_ID, ADMIN_USER_ID = 1, 2  # as created by the Moodle installer
SITE_COURSE_ID = 1

ALX_SERVICE_SHORTNAME = "alx_report_api_custom"
ALX_SERVICE_NAME = "ALX Report API Custom Service"


# --------------------------------------------------------------------------------------------------
# Sizes
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoSize:
    """How much data to make. Every number is an exact row count (guest, admin and the site course
    come on top of ``users`` and ``courses``)."""

    companies: int
    users: int  # users in companies (guest and admin come on top)
    courses: int  # not counting the site course
    enrolments: int  # user_enrolments rows, exactly
    categories: int  # topic categories (each company also gets its own category)
    departments_per_company: int  # below the company's top department
    courses_for_all_companies: int  # compliance-style courses every company offers
    shared_course_share: float = 0.25  # share of the other courses offered by 1-3 more companies
    activities_per_course: tuple[int, int] = (3, 15)
    log_activity: bool = True  # Moodle log and last access (off for the sync benchmark's big sites)


SIZES: dict[str, DemoSize] = {
    "tiny": DemoSize(
        companies=3,
        users=30,
        courses=6,
        enrolments=100,
        categories=2,
        departments_per_company=3,
        courses_for_all_companies=3,
    ),
    "small": DemoSize(
        companies=5,
        users=300,
        courses=20,
        enrolments=2_000,
        categories=4,
        departments_per_company=5,
        courses_for_all_companies=4,
    ),
    "medium": DemoSize(
        companies=10,
        users=3_000,
        courses=100,
        enrolments=20_000,
        categories=6,
        departments_per_company=8,
        courses_for_all_companies=8,
    ),
    "large": DemoSize(
        companies=15,
        users=12_000,
        courses=300,
        enrolments=100_000,
        categories=8,
        departments_per_company=10,
        courses_for_all_companies=12,
        log_activity=False,
    ),
    "1m": DemoSize(
        companies=25,
        users=100_000,
        courses=800,
        enrolments=1_000_000,
        categories=10,
        departments_per_company=12,
        courses_for_all_companies=20,
        log_activity=False,
    ),
}

# Users handled per block in the enrolment stream: bounds memory, and is one transaction per block.
_USER_BLOCK = 2_000


# --------------------------------------------------------------------------------------------------
# Embedded vocabulary
# --------------------------------------------------------------------------------------------------

FIRST_NAMES = (
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Nancy",
    "Matthew",
    "Lisa",
    "Anthony",
    "Sandra",
    "Mark",
    "Ashley",
    "Steven",
    "Emily",
    "Paul",
    "Michelle",
    "Andrew",
    "Amanda",
    "Joshua",
    "Melissa",
    "Kevin",
    "Deborah",
    "Brian",
    "Laura",
    "George",
    "Rebecca",
    "Oliver",
    "Amelia",
    "Harry",
    "Isla",
    "Jack",
    "Ava",
    "Noah",
    "Mia",
    "Liam",
    "Sophie",
    "Ethan",
    "Chloe",
    "Lucas",
    "Grace",
    "Mateo",
    "Valentina",
    "Santiago",
    "Camila",
    "José",
    "María",
    "Andrés",
    "Lucía",
    "Sofía",
    "Joaquín",
    "Zoë",
    "Chloé",
    "Renée",
    "Noémie",
    "François",
    "Hélène",
    "Jürgen",
    "Björn",
    "Søren",
    "Åsa",
    "Łukasz",
    "Zofia",
    "Małgorzata",
    "Piotr",
    "Mohammed",
    "Fatima",
    "Ahmed",
    "Aisha",
    "Omar",
    "Layla",
    "Yusuf",
    "Mariam",
    "Hassan",
    "Noor",
    "Priya",
    "Rahul",
    "Ananya",
    "Arjun",
    "Deepika",
    "Vikram",
    "Sanjay",
    "Kavya",
    "Rohan",
    "Aditi",
    "Wei",
    "Li",
    "Jun",
    "Mei",
    "Hiroshi",
    "Yuki",
    "Haruto",
    "Sakura",
    "Min-jun",
    "Seo-yeon",
    "Chinedu",
    "Ngozi",
    "Oluwaseun",
    "Adaeze",
    "Kwame",
    "Ama",
    "Tendai",
    "Thandiwe",
    "Sipho",
    "Zanele",
    "Thị",
    "Minh",
    "Anh",
    "Tuấn",
    "Olga",
    "Dmitri",
    "Ivana",
    "Nikola",
    "Ioana",
    "Mihai",
)

LAST_NAMES = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "O'Brien",
    "O'Connor",
    "McCarthy",
    "Murphy",
    "Kelly",
    "Byrne",
    "MacDonald",
    "Fraser",
    "Stewart",
    "Reid",
    "Müller",
    "Schröder",
    "Weiß",
    "Fischer",
    "Köhler",
    "Dubois",
    "Lefèvre",
    "Girard",
    "Rousseau",
    "Leclerc",
    "Núñez",
    "Peña",
    "Ibáñez",
    "Muñoz",
    "Gómez",
    "Jørgensen",
    "Østergaard",
    "Lindqvist",
    "Håkansson",
    "Nowak",
    "Kowalski",
    "Wiśniewski",
    "Wójcik",
    "Nováková",
    "Dvořák",
    "Popescu",
    "Ivanov",
    "Petrović",
    "Horvat",
    "Kovač",
    "Patel",
    "Sharma",
    "Singh",
    "Kumar",
    "Gupta",
    "Reddy",
    "Iyer",
    "Khan",
    "Chaudhry",
    "Hussain",
    "Al-Sayed",
    "Haddad",
    "Nasser",
    "Mansour",
    "Chen",
    "Wang",
    "Zhang",
    "Liu",
    "Yamamoto",
    "Tanaka",
    "Suzuki",
    "Kim",
    "Park",
    "Choi",
    "Okafor",
    "Adeyemi",
    "Mensah",
    "Banda",
    "Dlamini",
    "Nkosi",
    "Trần",
    "Phạm",
    "Lê",
    "Van der Berg",
    "De Vries",
    "Janssen",
    "Rossi",
    "Russo",
    "Esposito",
    "Bianchi",
    "𠮷田",  # Yoshida with the 4-byte variant of 吉: needs utf8mb4 on MySQL, as on real Japanese sites
)

# Names whose letters do not decompose to ASCII (used for usernames and e-mail addresses).
_ASCII_SPELLINGS = {"𠮷田": "yoshida", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "đ": "d", "æ": "ae"}

# (name ≤ 50 chars, shortname ≤ 25, city, country)
COMPANIES = (
    ("Northwind Logistics", "northwind", "Seattle", "US"),
    ("Contoso Manufacturing", "contoso", "Manchester", "GB"),
    ("Fabrikam Health", "fabrikam", "Toronto", "CA"),
    ("Tailspin Aviation", "tailspin", "Dublin", "IE"),
    ("Wide World Importers", "wideworld", "Rotterdam", "NL"),
    ("Adventure Works Retail", "adventureworks", "Denver", "US"),
    ("Litware Energy", "litware", "Aberdeen", "GB"),
    ("Woodgrove Bank", "woodgrove", "Sydney", "AU"),
    ("Alpine Ski House", "alpineski", "Innsbruck", "AT"),
    ("Coho Winery", "coho", "Mendoza", "AR"),
    ("Blue Yonder Airlines", "blueyonder", "Frankfurt", "DE"),
    ("Lucerne Publishing", "lucerne", "Zürich", "CH"),
    ("Margie's Travel", "margies", "Lisbon", "PT"),
    ("Trey Research", "treyresearch", "Bangalore", "IN"),
    ("Fourth Coffee", "fourthcoffee", "Melbourne", "AU"),
    ("Humongous Insurance", "humongous", "Chicago", "US"),
    ("Southridge Video", "southridge", "Auckland", "NZ"),
    ("Consolidated Messenger", "consolidated", "Johannesburg", "ZA"),
    ("Wingtip Toys", "wingtip", "Lyon", "FR"),
    ("Relecloud", "relecloud", "Singapore", "SG"),
    ("Tailwind Traders", "tailwind", "Dubai", "AE"),
    ("A. Datum Corporation", "adatum", "Boston", "US"),
    ("City Power & Light", "citypower", "Cape Town", "ZA"),
    ("Best For You Organics", "bestforyou", "Valencia", "ES"),
    ("VanArsdel Ltd", "vanarsdel", "Leeds", "GB"),
    ("Nod Publishers", "nodpublishers", "Kraków", "PL"),
    ("Proseware Inc", "proseware", "Austin", "US"),
    ("Graphic Design Institute", "gdi", "Milan", "IT"),
    ("Bellows Health Partners", "bellows", "Nairobi", "KE"),
    ("Munson's Pickles and Preserves", "munsons", "Portland", "US"),
)

DEPARTMENTS = (
    "Operations",
    "Sales",
    "Finance",
    "Human Resources",
    "IT",
    "Customer Service",
    "Warehouse",
    "Marketing",
    "Legal",
    "Procurement",
    "Research & Development",
    "Quality Assurance",
    "Facilities",
    "Logistics",
    "Training",
    "Health & Safety",
)
REGIONS = ("North", "South", "East", "West", "Central")
STREETS = ("High Street", "Market Square", "Harbour Road", "Park Avenue", "Station Road", "Riverside Drive")

CATEGORIES = (
    "Compliance",
    "Health & Safety",
    "Leadership & Management",
    "Technical Skills",
    "Customer Service",
    "Onboarding",
    "IT & Cyber Security",
    "Finance & Accounting",
    "Sales Excellence",
    "Languages",
    "Wellbeing",
    "Product Knowledge",
)

COURSE_TITLES = (
    "Workplace Safety Fundamentals",
    "Fire Safety Awareness",
    "Manual Handling",
    "First Aid at Work",
    "Data Protection and GDPR",
    "Anti-Bribery and Corruption",
    "Code of Conduct",
    "Information Security Basics",
    "Phishing Awareness",
    "Diversity, Equity & Inclusion",
    "Preventing Workplace Harassment",
    "Anti-Money Laundering",
    "Modern Slavery Awareness",
    "Display Screen Equipment",
    "Working at Height",
    "Hazardous Substances (COSHH)",
    "Forklift Operator Safety",
    "Food Hygiene Level 2",
    "Lone Worker Safety",
    "Mental Health at Work",
    "Stress Management",
    "Time Management",
    "Effective Communication",
    "Giving and Receiving Feedback",
    "Leading High-Performing Teams",
    "Coaching for Managers",
    "Project Management Essentials",
    "Agile Ways of Working",
    "Negotiation Skills",
    "Presentation Skills",
    "Customer Service Excellence",
    "Handling Complaints",
    "Consultative Selling",
    "Key Account Management",
    "Excel for Business",
    "Introduction to Power BI",
    "SQL for Analysts",
    "Cloud Computing Basics",
    "Budgeting and Forecasting",
    "Understanding Financial Statements",
    "Procurement Ethics",
    "New Starter Induction",
    "Company Products Overview",
    "Business Writing",
    "Business English",
    "Conversational Spanish",
    "Emotional Intelligence",
    "Change Management",
    "Risk Management",
    "Environmental Awareness",
    "Accessibility in the Workplace",
    "Remote Working Essentials",
)
COURSE_VARIANTS = (
    "",
    " Refresher",
    " for Managers",
    " (Advanced)",
    " 2025 Update",
    " (Part 2)",
    " - Practical Assessment",
    " for Team Leaders",
    " (Blended)",
    " Masterclass",
    " (Self-paced)",
    " (Level 3)",
    " for Frontline Staff",
    " - Annual Recertification",
    " (Essentials)",
    " Workshop",
)

_MINOR_WORDS = {"and", "of", "for", "the", "in", "at", "to"}

# (name, is graded, weight): the activity types demo courses are built from.
MODULES = (
    ("assign", True, 12),
    ("quiz", True, 16),
    ("page", False, 20),
    ("scorm", True, 9),
    ("forum", False, 9),
    ("resource", False, 14),
    ("url", False, 7),
    ("lesson", True, 6),
    ("h5pactivity", True, 7),
)

ROLES = (  # id, shortname, archetype, name. Moodle stores '' as the name of its standard roles.
    (1, "manager", "manager", ""),
    (2, "coursecreator", "coursecreator", ""),
    (3, "editingteacher", "editingteacher", ""),
    (4, "teacher", "teacher", ""),
    (5, "student", "student", ""),
    (6, "guest", "guest", ""),
    (7, "user", "user", ""),
    (8, "frontpage", "frontpage", ""),
    (9, "companymanager", "", "Company Manager"),  # created by IOMAD
    (10, "companydepartmentmanager", "", "Company Department Manager"),
)


def _ascii(text: str) -> str:
    """'José Núñez' -> 'Jose Nunez'; used for usernames and e-mail addresses."""
    if text in _ASCII_SPELLINGS:
        return _ASCII_SPELLINGS[text]
    text = "".join(_ASCII_SPELLINGS.get(char, char) for char in text)
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _login_part(text: str) -> str:
    return "".join(char for char in _ascii(text).lower() if char.isalnum())


_FIRST_LOGIN = {name: _login_part(name) for name in FIRST_NAMES}
_LAST_LOGIN = {name: _login_part(name) for name in LAST_NAMES}


# --------------------------------------------------------------------------------------------------
# In-memory model of what was generated (only what later steps need)
# --------------------------------------------------------------------------------------------------


@dataclass
class _Company:
    id: int
    index: int
    name: str
    shortname: str
    city: str
    country: str
    category_id: int
    department_ids: list[int] = field(default_factory=list)  # [0] is the top department
    manager_user_id: int = 0


@dataclass
class _Course:
    id: int
    context_id: int
    created: int
    enablecompletion: int
    manual_enrol_id: int = 0
    self_enrol_id: int = 0  # 0 when the course has no self enrolment instance
    self_enrol_enabled: bool = False
    tracked_modules: list[tuple[int, bool]] = field(default_factory=list)  # (cm id, graded)
    has_teacher: bool = False


@dataclass
class _User:
    id: int
    created: int
    company_indexes: tuple[int, ...]
    deleted: bool


@dataclass
class _Ids:
    """Next id per table: ids are assigned here so nothing has to be read back from the database."""

    next: dict[str, int] = field(default_factory=dict)

    def take(self, table: str) -> int:
        value = self.next.get(table, 1)
        self.next[table] = value + 1
        return value


# --------------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------------


class _DemoGenerator:
    def __init__(self, db: peewee.Database, prefix: str, size: DemoSize, seed: int, now: int):
        self.db = db
        self.prefix = prefix
        self.size = size
        self.rng = random.Random(seed)
        self.now = now
        self.ids = _Ids()
        self.counts: dict[str, int] = dict.fromkeys(TABLES, 0)
        self.companies: list[_Company] = []
        self.courses: list[_Course] = []
        self.users: list[_User] = []
        self.category_context: dict[int, int] = {}
        self.company_courses: dict[int, list[_Course]] = {}
        self.company_weights: list[float] = []
        self.usernames: set[str] = {"guest", "admin"}
        self.department_manager_done: set[int] = set()

    # -- plumbing ----------------------------------------------------------------------------------

    def insert(self, table: str, columns: Sequence[str], rows) -> None:
        count = insert_tuples(self.db, table, columns, rows, self.prefix)
        self.counts[table] += count

    def between(self, start: int, end: int) -> int:
        """A random time in [start, end] (end if the range is empty)."""
        return self.rng.randint(start, end) if end > start else end

    # -- steps -------------------------------------------------------------------------------------

    def run(self) -> dict[str, int]:
        self.make_roles()
        self.make_log_settings()
        self.make_modules()
        self.make_system_context()
        self.make_companies()
        self.make_courses()
        self.make_users()
        self.make_enrolments()
        self.make_web_services()
        return self.counts

    def make_roles(self) -> None:
        rows = [
            (role_id, name, shortname, "", role_id, archetype)
            for role_id, shortname, archetype, name in ROLES
        ]
        self.insert("role", ("id", "name", "shortname", "description", "sortorder", "archetype"), rows)

    def make_log_settings(self) -> None:
        """Moodle's defaults for its logging: the standard log store enabled, kept forever."""
        rows = [
            (1, "tool_log", "enabled_stores", "logstore_standard"),
            (2, "logstore_standard", "logguests", "1"),
            (3, "logstore_standard", "loglifetime", "0"),
        ]
        self.insert("config_plugins", ("id", "plugin", "name", "value"), rows)

    def make_modules(self) -> None:
        rows = [(index, name, "", 1) for index, (name, _graded, _weight) in enumerate(MODULES, start=1)]
        self.insert("modules", ("id", "name", "search", "visible"), rows)

    def make_system_context(self) -> None:
        self.ids.take("context")
        self.insert(
            "context",
            ("id", "contextlevel", "instanceid", "path", "depth"),
            [(SYSTEM_CONTEXT_ID, CONTEXT_SYSTEM, 0, "/1", 1)],
        )

    def make_companies(self) -> None:
        """Companies, each with its own course category and a department tree under a top department."""
        rng = self.rng
        for index in range(self.size.companies):
            name, shortname, city, country = COMPANIES[index % len(COMPANIES)]
            if index >= len(COMPANIES):  # more companies than names: number the repeats
                round_number = index // len(COMPANIES) + 1
                name, shortname = f"{name} {round_number}", f"{shortname}{round_number}"
            self.companies.append(
                _Company(self.ids.take("company"), index, name, shortname, city, country, category_id=0)
            )
        # Company sizes differ: the first companies get about twice the users of the last ones.
        count = len(self.companies)
        self.company_weights = [2.0 - index / max(1, count - 1) for index in range(count)]
        company_rows = []
        for company in self.companies:
            company.category_id = self.ids.take("course_categories")
            # A suspended company and a child company are edge cases the product must handle.
            suspended = int(self.size.companies >= 5 and company.index == self.size.companies - 1)
            parentid = self.companies[0].id if self.size.companies >= 10 and company.index == 9 else 0
            company_rows.append(
                (
                    company.id,
                    company.name,
                    company.shortname,
                    f"{company.shortname.upper()}-{company.id:03d}",
                    f"{rng.randint(1, 250)} {rng.choice(STREETS)}",
                    company.city,
                    company.country,
                    "iomad",
                    company.category_id,
                    suspended,
                    parentid,
                    f"{company.shortname}.example.com" if rng.random() < 0.3 else None,
                )
            )
        self.insert(
            "company",
            (
                "id",
                "name",
                "shortname",
                "code",
                "address",
                "city",
                "country",
                "theme",
                "category",
                "suspended",
                "parentid",
                "hostname",
            ),
            company_rows,
        )
        self.insert(
            "department",
            ("id", "name", "shortname", "company", "parent"),
            [row for company in self.companies for row in self.department_rows(company)],
        )

    def department_rows(self, company: _Company) -> Iterator[tuple]:
        rng = self.rng
        top_id = self.ids.take("department")
        company.department_ids.append(top_id)
        yield (top_id, company.name, company.shortname, company.id, 0)  # IOMAD's top department: parent 0
        names = rng.sample(DEPARTMENTS, min(self.size.departments_per_company, len(DEPARTMENTS)))
        while len(names) < self.size.departments_per_company:  # sub-departments such as "Sales - North"
            names.append(f"{rng.choice(DEPARTMENTS)} - {rng.choice(REGIONS)}")
        parents = [top_id]
        for number, name in enumerate(names, start=1):
            department_id = self.ids.take("department")
            # Most departments hang under the top one; some under an earlier department (a tree).
            parent = top_id if number <= 3 or rng.random() < 0.6 else rng.choice(parents)
            parents.append(department_id)
            company.department_ids.append(department_id)
            yield (department_id, name, _login_part(name)[:32], company.id, parent)

    COURSE_COLUMNS = (
        "id",
        "category",
        "sortorder",
        "fullname",
        "shortname",
        "idnumber",
        "summary",
        "summaryformat",
        "format",
        "startdate",
        "enddate",
        "visible",
        "visibleold",
        "timecreated",
        "timemodified",
        "enablecompletion",
        "cacherev",
        "showcompletionconditions",
    )

    def make_courses(self) -> None:
        """The site course, the courses with their contexts, activities, enrol methods and companies."""
        topic_ids = [self.ids.take("course_categories") for _ in range(self.size.categories)]
        site_created = self.now - 3 * YEAR
        site = (
            SITE_COURSE_ID,
            0,
            1,
            "ALX Demo Learning Portal",
            "ALX Demo",
            "",
            "",
            1,
            "site",
            0,
            0,
            1,
            1,
            site_created,
            site_created,
            0,
            site_created,
            None,
        )
        course_rows, homes, course_categories = [site], [], []
        for number, (fullname, shortname) in enumerate(self.course_names(self.size.courses)):
            home = self.companies[number % len(self.companies)]
            # IOMAD puts courses a company creates into the company's category; the rest are by topic.
            category = home.category_id if self.rng.random() < 0.3 else self.rng.choice(topic_ids)
            course_rows.append(
                self.course_row(
                    SITE_COURSE_ID + 1 + number, category, number, fullname, shortname, site_created
                )
            )
            homes.append(home)
            course_categories.append(category)
        self.make_categories(topic_ids, course_categories, site_created)
        self.make_course_contexts(course_categories)
        self.insert("course", self.COURSE_COLUMNS, course_rows)
        self.make_course_modules()
        self.make_enrol_instances()
        self.make_company_courses(homes)

    def course_row(
        self, course_id: int, category: int, number: int, fullname: str, shortname: str, site_created: int
    ) -> tuple:
        """A course: a few are hidden, a few do not track completion."""
        rng, now = self.rng, self.now
        created = self.between(site_created + 30 * DAY, now - 14 * DAY)
        visible = 0 if rng.random() < 0.06 else 1
        enablecompletion = 0 if rng.random() < 0.07 else 1
        self.courses.append(_Course(course_id, 0, created, enablecompletion))
        startdate = created + rng.randint(0, 14) * DAY
        return (
            course_id,
            category,
            10_000 + number,
            fullname,
            shortname,
            f"CRS-{course_id:05d}" if rng.random() < 0.5 else "",
            f"<p>{fullname}: an online course for all staff.</p>",
            1,
            rng.choice(("topics", "topics", "weeks")),
            startdate,
            startdate + YEAR if rng.random() < 0.4 else 0,
            visible,
            visible,
            created,
            self.between(created, now),
            enablecompletion,
            created + rng.randint(1, 9999),
            1,
        )

    def course_names(self, count: int) -> Iterator[tuple[str, str]]:
        """Unique (fullname, shortname) pairs: titles first, then titles with variants, then editions."""
        titles = list(COURSE_TITLES)
        self.rng.shuffle(titles)
        combos = [(title, variant) for variant in COURSE_VARIANTS for title in titles]
        for number in range(count):
            title, variant = combos[number % len(combos)]
            edition = number // len(combos)
            fullname = title + variant + (f" (Edition {edition + 1})" if edition else "")
            initials = "".join(
                word[0]
                for word in title.replace("-", " ").split()
                if word[0].isalnum() and word not in _MINOR_WORDS
            )
            yield fullname[:254], f"{initials.upper()}-{number + 101}"

    def make_categories(self, topic_ids: list[int], course_categories: list[int], created: int) -> None:
        counts = {category: course_categories.count(category) for category in set(course_categories)}
        rows = []
        for company in self.companies:
            rows.append((company.category_id, company.name, None, 0, company.category_id))
        for number, category_id in enumerate(topic_ids):
            name = CATEGORIES[number % len(CATEGORIES)]
            rows.append((category_id, name, f"CAT{number + 1:02d}", 0, category_id))
        full_rows = [
            (
                category_id,
                name,
                idnumber,
                parent,
                sortorder * 10_000,
                counts.get(category_id, 0),
                1,
                self.between(created, self.now),
                1,
                f"/{category_id}",
                "<p></p>",
                1,
            )
            for category_id, name, idnumber, parent, sortorder in sorted(rows)
        ]
        self.insert(
            "course_categories",
            (
                "id",
                "name",
                "idnumber",
                "parent",
                "sortorder",
                "coursecount",
                "visible",
                "timemodified",
                "depth",
                "path",
                "description",
                "descriptionformat",
            ),
            full_rows,
        )
        context_rows = []
        for category_id, *_rest in sorted(rows):
            context_id = self.ids.take("context")
            self.category_context[category_id] = context_id
            context_rows.append((context_id, CONTEXT_COURSECAT, category_id, f"/1/{context_id}", 2))
        self.insert("context", ("id", "contextlevel", "instanceid", "path", "depth"), context_rows)

    def make_course_contexts(self, course_categories: list[int]) -> None:
        site_context = self.ids.take("context")
        rows = [(site_context, CONTEXT_COURSE, SITE_COURSE_ID, f"/1/{site_context}", 2)]
        for course, category in zip(self.courses, course_categories, strict=True):
            course.context_id = self.ids.take("context")
            category_context = self.category_context[category]
            rows.append(
                (
                    course.context_id,
                    CONTEXT_COURSE,
                    course.id,
                    f"/1/{category_context}/{course.context_id}",
                    3,
                )
            )
        self.insert("context", ("id", "contextlevel", "instanceid", "path", "depth"), rows)

    def make_course_modules(self) -> None:
        rng = self.rng
        names = [name for name, _graded, _weight in MODULES]
        weights = [weight for _name, _graded, weight in MODULES]
        instance_ids = dict.fromkeys(names, 0)
        rows = []
        for course in self.courses:
            low, high = self.size.activities_per_course
            for position in range(rng.randint(low, high)):
                module_index = rng.choices(range(len(MODULES)), weights)[0]
                name, graded, _weight = MODULES[module_index]
                instance_ids[name] += 1
                completion = self.module_completion(course, name)
                deleting = 1 if rng.random() < 0.01 else 0
                visible = 0 if rng.random() < 0.03 else 1
                cm_id = self.ids.take("course_modules")
                if completion:
                    course.tracked_modules.append((cm_id, graded))
                rows.append(
                    (
                        cm_id,
                        course.id,
                        module_index + 1,
                        instance_ids[name],
                        0,
                        course.created + position * HOUR,
                        visible,
                        visible,
                        completion,
                        0 if graded and completion == 2 else None,
                        1 if completion == 2 and not graded else 0,
                        1 if graded and completion == 2 and rng.random() < 0.3 else 0,
                        deleting,
                    )
                )
        self.insert(
            "course_modules",
            (
                "id",
                "course",
                "module",
                "instance",
                "section",
                "added",
                "visible",
                "visibleold",
                "completion",
                "completiongradeitemnumber",
                "completionview",
                "completionpassgrade",
                "deletioninprogress",
            ),
            rows,
        )

    def module_completion(self, course: _Course, module_name: str) -> int:
        """0 none, 1 manual, 2 automatic. Courses without completion tracking keep the 0 default."""
        if not course.enablecompletion:
            return 0
        untracked_share = 0.4 if module_name in ("forum", "url") else 0.1
        r = self.rng.random()
        if r < untracked_share:
            return 0
        return 1 if r < untracked_share + 0.35 else 2

    def make_enrol_instances(self) -> None:
        """Like a new Moodle course: manual (enabled), guest (disabled), often self (enabled or not)."""
        rng = self.rng
        rows = []
        for course in self.courses:
            created = course.created
            course.manual_enrol_id = self.ids.take("enrol")
            manual_status = 1 if rng.random() < 0.02 else 0
            rows.append(
                (
                    course.manual_enrol_id,
                    "manual",
                    manual_status,
                    course.id,
                    0,
                    None,
                    86400,
                    0,
                    ROLE_STUDENT,
                    None,
                    None,
                    None,
                    None,
                    created,
                    created,
                )
            )
            rows.append(
                (
                    self.ids.take("enrol"),
                    "guest",
                    1,
                    course.id,
                    1,
                    None,
                    0,
                    0,
                    0,
                    None,
                    None,
                    None,
                    None,
                    created,
                    created,
                )
            )
            if rng.random() < 0.6:
                course.self_enrol_id = self.ids.take("enrol")
                self_status = 0 if rng.random() < 0.5 else 1
                course.self_enrol_enabled = self_status == 0
                rows.append(
                    (
                        course.self_enrol_id,
                        "self",
                        self_status,
                        course.id,
                        2,
                        "Self enrolment (Student)" if rng.random() < 0.3 else None,
                        0,
                        0,
                        ROLE_STUDENT,
                        0,
                        0,
                        0,
                        1,
                        created,
                        self.between(created, self.now),
                    )
                )
        self.insert(
            "enrol",
            (
                "id",
                "enrol",
                "status",
                "courseid",
                "sortorder",
                "name",
                "expirythreshold",
                "expirynotify",
                "roleid",
                "customint1",
                "customint2",
                "customint3",
                "customint4",
                "timecreated",
                "timemodified",
            ),
            rows,
        )

    def make_company_courses(self, homes: list[_Company]) -> None:
        """Each course belongs to a home company; some are offered to every company, some to a few more."""
        rng = self.rng
        self.company_courses = {company.index: [] for company in self.companies}
        for number, (course, home) in enumerate(zip(self.courses, homes, strict=True)):
            if number < self.size.courses_for_all_companies:
                offered = list(self.companies)
            else:
                offered = [home]
                others = [company for company in self.companies if company is not home]
                if others and rng.random() < self.size.shared_course_share:
                    offered += rng.sample(others, min(len(others), rng.randint(1, 3)))
            for company in offered:
                self.company_courses[company.index].append(course)
        rows = [
            (self.ids.take("company_course"), company.id, course.id, company.department_ids[0])
            for company in self.companies
            for course in self.company_courses[company.index]
        ]
        self.insert("company_course", ("id", "companyid", "courseid", "departmentid"), rows)

    # -- users ---------------------------------------------------------------------------------------

    USER_COLUMNS = (
        "id",
        "auth",
        "confirmed",
        "deleted",
        "suspended",
        "mnethostid",
        "username",
        "password",
        "idnumber",
        "firstname",
        "lastname",
        "email",
        "phone1",
        "institution",
        "department",
        "city",
        "country",
        "firstaccess",
        "lastaccess",
        "lastlogin",
        "currentlogin",
        "lastip",
        "timecreated",
        "timemodified",
        "description",
        "alternatename",
    )

    def make_users(self) -> None:
        """Guest and admin as the installer makes them, then the company users with their memberships."""
        installed = self.now - 3 * YEAR
        specials = [
            (
                GUEST_USER_ID,
                "manual",
                1,
                0,
                0,
                1,
                "guest",
                self.password_hash(),
                "",
                "Guest user",
                " ",
                "root@localhost",
                "",
                "",
                "",
                "",
                "",
                0,
                0,
                0,
                0,
                "",
                installed,
                installed,
                "This user is a special user that allows read-only access to some courses.",
                None,
            ),
            (
                ADMIN_USER_ID,
                "manual",
                1,
                0,
                0,
                1,
                "admin",
                self.password_hash(),
                "",
                "Admin",
                "User",
                "admin@alx-demo.example.com",
                "",
                "",
                "",
                "",
                "",
                installed,
                self.now - HOUR,
                self.now - DAY,
                self.now - HOUR,
                "127.0.0.1",
                installed,
                installed,
                None,
                None,
            ),
        ]
        self.insert("user", self.USER_COLUMNS, specials)
        self.ids.next["user"] = ADMIN_USER_ID + 1
        for start in range(0, self.size.users, 5_000):
            user_rows, membership_rows = [], []
            for _ in range(start, min(start + 5_000, self.size.users)):
                user_row, memberships = self.make_user()
                user_rows.append(user_row)
                membership_rows.extend(memberships)
            with self.db.atomic():
                self.insert("user", self.USER_COLUMNS, user_rows)
                self.insert(
                    "company_users",
                    (
                        "id",
                        "companyid",
                        "userid",
                        "managertype",
                        "departmentid",
                        "suspended",
                        "educator",
                        "lastused",
                    ),
                    membership_rows,
                )

    def password_hash(self) -> str:
        # Looks like Moodle's bcrypt hashes ($2y$10$ + 53 chars); no real password behind it.
        alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "$2y$10$" + "".join(self.rng.choices(alphabet, k=53))

    def unique_username(self, first: str, last: str) -> str:
        base = f"{_FIRST_LOGIN[first]}.{_LAST_LOGIN[last]}"
        username, number = base, 1
        while username in self.usernames:
            number += 1
            username = f"{base}{number}"
        self.usernames.add(username)
        return username

    def deleted_username(self, email: str, deleted_at: int) -> str:
        username = f"{email}.{deleted_at}"
        while username in self.usernames:  # two deleted users sharing a mailbox in the same second
            deleted_at += 1
            username = f"{email}.{deleted_at}"
        self.usernames.add(username)
        return username

    def make_user(self) -> tuple[tuple, list[tuple]]:
        rng, now = self.rng, self.now
        user_id = self.ids.take("user")
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        company_indexes = self.pick_companies()
        company = self.companies[company_indexes[0]] if company_indexes else None
        username = self.unique_username(first, last)
        domain = f"{company.shortname}.example.com" if company else "alx-demo.example.com"
        email = f"{username}@{domain}"
        if rng.random() < 0.01:  # a shared mailbox: e-mail is not unique in Moodle
            email = f"training@{domain}"
        created = self.between(now - 3 * YEAR, now - 30 * DAY)
        modified = self.between(created, now)
        deleted = rng.random() < 0.015
        suspended = 0 if deleted else int(rng.random() < 0.03)
        never_logged_in = rng.random() < 0.1
        firstaccess = 0 if never_logged_in else self.between(created, now)
        lastaccess = 0 if never_logged_in else self.between(firstaccess, now)
        idnumber = f"E{100_000 + user_id}" if rng.random() < 0.7 else ""
        auth = "manual" if rng.random() < 0.95 else rng.choice(("email", "email", "nologin"))
        confirmed = 0 if rng.random() < 0.005 else 1
        if deleted:  # what Moodle's delete_user() leaves behind
            username, email, idnumber = self.deleted_username(email, modified), _md5(username), ""
        self.users.append(_User(user_id, created, company_indexes, deleted))
        row = (
            user_id,
            auth,
            confirmed,
            int(deleted),
            suspended,
            1,
            username,
            self.password_hash(),
            idnumber,
            first,
            last,
            email,
            f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}" if rng.random() < 0.3 else "",
            company.name if company else "",
            "",
            company.city if company else "",
            company.country if company else "",
            firstaccess,
            lastaccess,
            lastaccess,
            lastaccess,
            ""
            if never_logged_in
            else f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            created,
            modified,
            None,
            None,
        )
        can_manage = not deleted and not suspended and confirmed and auth == "manual"
        memberships = [
            self.membership(user_id, index, rng.random() < 0.03 and position == 0, can_manage)
            for position, index in enumerate(company_indexes)
        ]
        return row, [row for rows in memberships for row in rows]

    def pick_companies(self) -> tuple[int, ...]:
        """Most users are in one company, a few in two, about 1% in none (site staff)."""
        rng = self.rng
        r = rng.random()
        if r < 0.01:
            return ()
        first = self.weighted_company()
        if r < 0.03 and len(self.companies) > 1:
            second = rng.choice([c.index for c in self.companies if c.index != first])
            return (first, second)
        return (first,)

    def weighted_company(self) -> int:
        return self.rng.choices(range(len(self.companies)), self.company_weights)[0]

    def membership(
        self, user_id: int, company_index: int, two_departments: bool, can_manage: bool
    ) -> list[tuple]:
        """company_users rows: one per department (IOMAD allows several departments per company).

        The first active user of each company becomes its company manager (in the top department;
        the API tokens belong to managers); the first user of a department often manages it.
        """
        rng, company = self.rng, self.companies[company_index]
        departments = company.department_ids
        company_manager = can_manage and not company.manager_user_id
        if company_manager:
            company.manager_user_id = user_id
            chosen = [departments[0]]
        else:
            chosen = [departments[0] if rng.random() < 0.1 else rng.choice(departments[1:] or departments)]
            if two_departments and len(departments) > 1:
                chosen.append(rng.choice([d for d in departments if d != chosen[0]]))
        rows = []
        for department in chosen:
            managertype = 1 if company_manager else self.department_manager_type(department, departments[0])
            suspended = 0 if company_manager else int(rng.random() < 0.01)
            educator = int(rng.random() < 0.02)
            lastused = self.between(self.now - 90 * DAY, self.now) if rng.random() < 0.4 else None
            rows.append(
                (
                    self.ids.take("company_users"),
                    company.id,
                    user_id,
                    managertype,
                    department,
                    suspended,
                    educator,
                    lastused,
                )
            )
        return rows

    def department_manager_type(self, department: int, top_department: int) -> int:
        """2 (department manager) for the first member of most departments, else 0 (user)."""
        if department == top_department or department in self.department_manager_done:
            return 0
        self.department_manager_done.add(department)
        return 2 if self.rng.random() < 0.6 else 0

    # -- enrolments ------------------------------------------------------------------------------------

    def make_enrolments(self) -> None:
        """user_enrolments + role_assignments + activity/course completions, streamed per user block."""
        offered = self.courses_offered_per_user()
        counts = self.enrolment_counts(offered)
        for start in range(0, len(self.users), _USER_BLOCK):
            block = _EnrolmentBlock()
            end = start + _USER_BLOCK
            for user, courses, count in zip(
                self.users[start:end], offered[start:end], counts[start:end], strict=True
            ):
                if count:
                    for course in self.rng.sample(courses, count):
                        self.enrol(block, user, course)
            with self.db.atomic():
                self.insert("user_enrolments", _EnrolmentBlock.ENROLMENT_COLUMNS, block.enrolments)
                self.insert("role_assignments", _EnrolmentBlock.ROLE_COLUMNS, block.roles)
                self.insert("course_modules_completion", _EnrolmentBlock.MODULE_COLUMNS, block.modules)
                self.insert("course_completions", _EnrolmentBlock.COURSE_COLUMNS, block.courses)

    def courses_offered_per_user(self) -> list[Sequence[_Course]]:
        """The courses each user's companies offer (shared lists; deleted users get none)."""
        by_companies: dict[tuple[int, ...], list[_Course]] = {}
        offered: list[Sequence[_Course]] = []
        for user in self.users:
            if user.deleted or not user.company_indexes:
                offered.append(())
                continue
            key = tuple(sorted(user.company_indexes))
            if key not in by_companies:
                courses = {course.id: course for index in key for course in self.company_courses[index]}
                by_companies[key] = [courses[course_id] for course_id in sorted(courses)]
            offered.append(by_companies[key])
        return offered

    def enrolment_counts(self, offered: list[Sequence[_Course]]) -> list[int]:
        """Enrolments per user, varied around the mean, summing exactly to the size's enrolment count."""
        rng, target = self.rng, self.size.enrolments
        capacity = [len(courses) for courses in offered]
        if sum(capacity) < target:
            raise ValueError(
                f"size asks for {target} enrolments but users can take at most {sum(capacity)} "
                "courses: add courses or share more of them between companies"
            )
        candidates = [index for index, cap in enumerate(capacity) if cap]
        mean = target / len(candidates)
        counts = [0] * len(offered)
        for index in candidates:
            counts[index] = min(capacity[index], max(0, round(rng.gauss(mean, 0.45 * mean))))
        difference = target - sum(counts)
        step = 1 if difference > 0 else -1
        while difference:
            index = rng.choice(candidates)
            if (step > 0 and counts[index] < capacity[index]) or (step < 0 and counts[index] > 0):
                counts[index] += step
                difference -= step
        return counts

    def enrol(self, block: _EnrolmentBlock, user: _User, course: _Course) -> None:
        """One user_enrolments row, its role assignment and, for students, their progress."""
        rng, now = self.rng, self.now
        # Most people are enrolled by a manager; some enrolled themselves, a few through a self
        # enrolment method that was disabled afterwards.
        by_self = course.self_enrol_id and rng.random() < (0.15 if course.self_enrol_enabled else 0.03)
        enrol_id = course.self_enrol_id if by_self else course.manual_enrol_id
        status = 1 if rng.random() < 0.06 else 0  # suspended enrolment
        created, timestart, timeend = self.enrolment_dates(user, course)
        modified = self.between(created, now) if status else created
        block.enrolments.append(
            (
                self.ids.take("user_enrolments"),
                status,
                enrol_id,
                user.id,
                timestart,
                timeend,
                ADMIN_USER_ID,
                created,
                modified,
            )
        )

        roleid = self.course_role(course)
        manual_component = not by_self and rng.random() < 0.15
        block.roles.append(
            (
                self.ids.take("role_assignments"),
                roleid,
                course.context_id,
                user.id,
                created,
                ADMIN_USER_ID,
                "enrol_manual" if manual_component else "",
                enrol_id if manual_component else 0,
            )
        )
        start = timestart or created
        if roleid == ROLE_STUDENT and course.enablecompletion and course.tracked_modules and start < now:
            self.progress(block, user, course, start, min(now, timeend) if timeend else now)

    def enrolment_dates(self, user: _User, course: _Course) -> tuple[int, int, int]:
        """(timecreated, timestart, timeend) over the last year.

        timestart: 0 (no start date) or the enrolment day, a few in the future; timeend: mostly 0
        (no end), some already past (expired), some in the future.
        """
        rng, now = self.rng, self.now
        created = self.between(max(user.created, course.created, now - YEAR), now - HOUR)
        r = rng.random()
        timestart = 0 if r < 0.35 else created if r < 0.97 else now + rng.randint(1, 60) * DAY
        r = rng.random()
        if r < 0.85:
            timeend = 0
        elif r < 0.93:
            timeend = (timestart or created) + rng.randint(30, 180) * DAY
            timeend = timeend if timeend < now else 0
        else:
            timeend = now + rng.randint(30, 365) * DAY
        return created, timestart, timeend

    def course_role(self, course: _Course) -> int:
        """The first person enrolled in a course teaches it; a few others are non-editing teachers."""
        if not course.has_teacher:
            course.has_teacher = True
            return ROLE_EDITINGTEACHER
        return ROLE_TEACHER if self.rng.random() < 0.02 else ROLE_STUDENT

    def progress(self, block: _EnrolmentBlock, user: _User, course: _Course, start: int, end: int) -> None:
        """Activity completions in course order, and the course_completions row when Moodle has one."""
        rng = self.rng
        modules = course.tracked_modules
        r = rng.random()
        if r < 0.30 or end <= start:  # not started; cron has created the course_completions row for half
            if rng.random() < 0.5:
                block.courses.append(
                    (self.ids.take("course_completions"), user.id, course.id, start, 0, None, 0)
                )
            return
        completed_course = r >= 0.75
        done = len(modules) if completed_course else rng.randint(1, max(1, len(modules) - 1))
        # Learners work through a course over weeks: spread the completions over up to ~6 months.
        max_step = max(600, min(end - start, 180 * DAY) * 2 // (len(modules) + 1))
        moment = start
        first = 0
        for cm_id, graded in modules[:done]:
            moment = min(end, moment + rng.randint(300, max_step))
            first = first or moment
            r = rng.random()
            if completed_course:
                state = 2 if graded and r < 0.5 else 1
            else:
                state = 0 if r < 0.02 else 3 if graded and r < 0.15 else 2 if graded and r < 0.5 else 1
            overrideby = ADMIN_USER_ID if r > 0.995 else None
            block.modules.append(
                (self.ids.take("course_modules_completion"), cm_id, user.id, state, overrideby, moment)
            )
        timecompleted = min(end, moment + rng.randint(60, HOUR)) if completed_course else None
        block.courses.append(
            (self.ids.take("course_completions"), user.id, course.id, start, first, timecompleted, 0)
        )

    # -- web services ------------------------------------------------------------------------------------

    def make_web_services(self) -> None:
        """The mobile service, the ALX service with its function, and tokens for some company managers."""
        rng, now = self.rng, self.now
        installed = now - 3 * YEAR
        services = [
            (
                1,
                "Moodle mobile web service",
                0,
                None,
                0,
                "moodle",
                installed,
                installed,
                "moodle_mobile_app",
                1,
                1,
            ),
            (
                2,
                ALX_SERVICE_NAME,
                1,
                None,
                0,
                None,
                now - 200 * DAY,
                now - 200 * DAY,
                ALX_SERVICE_SHORTNAME,
                0,
                0,
            ),
        ]
        self.insert(
            "external_services",
            (
                "id",
                "name",
                "enabled",
                "requiredcapability",
                "restrictedusers",
                "component",
                "timecreated",
                "timemodified",
                "shortname",
                "downloadfiles",
                "uploadfiles",
            ),
            services,
        )
        functions = [
            (
                1,
                "core_webservice_get_site_info",
                "core_webservice_external",
                "get_site_info",
                None,
                "moodle",
                "",
                "moodle_mobile_app",
            ),
            (
                2,
                "core_course_get_courses",
                "core_course_external",
                "get_courses",
                None,
                "moodle",
                "moodle/course:view, moodle/course:update, moodle/course:viewhiddencourses",
                "moodle_mobile_app",
            ),
            (
                3,
                "local_alx_report_api_get_course_progress",
                "local_alx_report_api_external",
                "get_course_progress",
                "local/alx_report_api/externallib.php",
                "local_alx_report_api",
                "",
                ALX_SERVICE_SHORTNAME,
            ),
        ]
        self.insert(
            "external_functions",
            ("id", "name", "classname", "methodname", "classpath", "component", "capabilities", "services"),
            functions,
        )
        self.insert(
            "external_services_functions",
            ("id", "externalserviceid", "functionname"),
            [
                (1, 1, "core_webservice_get_site_info"),
                (2, 1, "core_course_get_courses"),
                (3, 2, "local_alx_report_api_get_course_progress"),
            ],
        )
        tokens = []
        for number, company in enumerate(self.companies[:3], start=1):
            if not company.manager_user_id:
                continue
            created = now - rng.randint(20, 120) * DAY
            expired = number == 3  # an expired token, which Moodle deletes when it is used
            validuntil = now - 30 * DAY if expired else 0
            lastaccess = self.between(created, validuntil if expired else now)
            tokens.append(
                (
                    number,
                    f"{rng.getrandbits(128):032x}",
                    f"{rng.getrandbits(256):064x}",
                    0,
                    company.manager_user_id,
                    2,
                    SYSTEM_CONTEXT_ID,
                    ADMIN_USER_ID,
                    validuntil,
                    created,
                    lastaccess,
                    f"Power BI - {company.name}",
                )
            )
        self.insert(
            "external_tokens",
            (
                "id",
                "token",
                "privatetoken",
                "tokentype",
                "userid",
                "externalserviceid",
                "contextid",
                "creatorid",
                "validuntil",
                "timecreated",
                "lastaccess",
                "name",
            ),
            tokens,
        )


class _EnrolmentBlock:
    """Rows produced for one block of users, inserted together."""

    ENROLMENT_COLUMNS = (
        "id",
        "status",
        "enrolid",
        "userid",
        "timestart",
        "timeend",
        "modifierid",
        "timecreated",
        "timemodified",
    )
    ROLE_COLUMNS = (
        "id",
        "roleid",
        "contextid",
        "userid",
        "timemodified",
        "modifierid",
        "component",
        "itemid",
    )
    MODULE_COLUMNS = ("id", "coursemoduleid", "userid", "completionstate", "overrideby", "timemodified")
    COURSE_COLUMNS = ("id", "userid", "course", "timeenrolled", "timestarted", "timecompleted", "reaggregate")

    __slots__ = ("enrolments", "roles", "modules", "courses")

    def __init__(self) -> None:
        self.enrolments: list[tuple] = []
        self.roles: list[tuple] = []
        self.modules: list[tuple] = []
        self.courses: list[tuple] = []


# --------------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------------


def generate(
    db: peewee.Database, prefix: str = "mdl_", *, size: str | DemoSize = "small", seed: int = 42, now: int
) -> dict[str, int]:
    """Fill a database with a demo Moodle + IOMAD site; return the number of rows per table.

    Tables that do not exist yet are created, loaded without indexes and indexed at the end (much
    faster for the big sizes). Tables that already exist are used as they are and must be empty.
    """
    demo_size = SIZES[size] if isinstance(size, str) else size
    existing = set(db.get_tables())
    missing = [table for table in TABLES if prefix + table not in existing]
    create_moodle_schema(db, prefix, missing, indexes=False)
    sqlite_pragmas = _fast_sqlite_load(db) if dialect_of(db) == "sqlite" else None
    try:
        counts = _DemoGenerator(db, prefix, demo_size, seed, now).run()
        if demo_size.log_activity:
            counts.update(make_activity(db, prefix, seed, now))
        create_moodle_indexes(db, prefix, missing)
        if dialect_of(db) == "postgresql":
            # Planner statistics now, not when autovacuum comes by: the first sync after a bulk load
            # was planned on guesses (nested loops over every enrolment; seconds on the medium site).
            for table in TABLES:
                db.execute_sql(f"ANALYZE {quote_name(db, prefix + table)}")
    finally:
        if sqlite_pragmas is not None:
            _restore_sqlite(db, sqlite_pragmas)
    return counts


def _fast_sqlite_load(db: peewee.Database) -> dict[str, int]:
    """Pragmas for bulk loading a demo file, returning the previous values.

    No fsyncs (a crash loses only the demo being built), and index sorts spill to temporary files
    rather than RAM (``temp_store=MEMORY`` would keep the sort of 3M rows in memory).
    """
    wanted = {"synchronous": 0, "temp_store": 1}
    previous = {name: db.execute_sql(f"PRAGMA {name}").fetchone()[0] for name in wanted}
    for name, value in wanted.items():
        db.execute_sql(f"PRAGMA {name} = {value}")
    return previous


def _restore_sqlite(db: peewee.Database, previous: dict[str, int]) -> None:
    for name, value in previous.items():
        db.execute_sql(f"PRAGMA {name} = {int(value)}")
